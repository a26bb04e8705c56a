namespace RdmaCs.Qemu;

/// <summary>
/// What a <see cref="QemuMachine"/> boots: the page-writer boot sector (<see cref="GuestLoad"/>) or a real Linux kernel
/// (<see cref="LinuxGuest"/>). A destination is started with the same image as its source, so that both have the same
/// devices and ROMs (migration requires it); the destination never runs the image itself, it receives the source's state.
/// </summary>
public abstract record GuestImage
{
    /// <summary>QEMU's options for this guest; its serial console, if it has one, goes to <paramref name="consoleLog"/>.</summary>
    public abstract IEnumerable<string> QemuArguments(string consoleLog);

    /// <summary>The files the image needs, each with the build step that makes it.</summary>
    public abstract IEnumerable<(string File, string BuiltBy)> RequiredFiles { get; }
}
