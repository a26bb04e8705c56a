namespace RdmaCs.Qemu;

/// <summary>
/// What the page-writer guest (tests/guest/pagewriter.s) does: rewrite a hot set of its RAM above 1 MiB, sweep after
/// sweep, after filling all of its RAM once or leaving the rest zero. Passed to it through QEMU's loader device.
/// </summary>
/// <param name="HotBytes">Bytes above 1 MiB rewritten continuously; 0 for all of RAM.</param>
/// <param name="LeaveRestZero">True: only the hot set is ever written (a mostly idle guest, most of its RAM zero).</param>
/// <param name="ScatteredOrder">True: each sweep rewrites the hot set's pages in a scattered order, not ascending.</param>
public sealed record GuestLoad(long HotBytes, bool LeaveRestZero = false, bool ScatteredOrder = false) : GuestImage
{
    /// <summary>Every page rewritten continuously: the hardest load (migration converges only by chance).</summary>
    public static GuestLoad AllMemory { get; } = new(0);

    /// <summary>All RAM filled once, then a 64 MiB working set rewritten continuously: a busy guest.</summary>
    public static GuestLoad Busy { get; } = new(64L << 20);

    /// <summary>Only 8 MiB ever written; the rest stays zero: a mostly idle guest.</summary>
    public static GuestLoad Idle { get; } = new(8L << 20, LeaveRestZero: true);

    /// <summary>Every page rewritten continuously, in a scattered page order: the dirty memory of random writes.</summary>
    public static GuestLoad Random { get; } = new(0, ScatteredOrder: true);

    /// <summary>The QEMU options that hand the load to the guest (two loader devices).</summary>
    public IEnumerable<string> LoaderArguments =>
    [
        "-device", $"loader,addr=0x90000,data={HotBytes},data-len=4",
        "-device", $"loader,addr=0x90004,data={(LeaveRestZero ? 1 : 0) | (ScatteredOrder ? 2 : 0)},data-len=4",
    ];

    /// <summary>The boot floppy and the load; no serial console.</summary>
    public override IEnumerable<string> QemuArguments(string consoleLog) =>
        ["-drive", $"file={QemuPaths.Guest},format=raw,if=floppy,readonly=on", "-serial", "none", .. LoaderArguments];

    public override IEnumerable<(string File, string BuiltBy)> RequiredFiles => [(QemuPaths.Guest, "scripts/build-native.sh")];

    public override string ToString() =>
        (HotBytes == 0 ? "rewriting all of its RAM" : $"rewriting {HotBytes >> 20} MiB{(LeaveRestZero ? ", the rest of its RAM zero" : " after filling all of its RAM")}") +
        (ScatteredOrder ? " in scattered page order" : "");
}
