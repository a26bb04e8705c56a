namespace RdmaCs.Libvirt;

/// <summary>What one virsh command printed, and how it exited.</summary>
public sealed record VirshResult(int ExitCode, string Output, string Error)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>Both streams, for assertion messages.</summary>
    public override string ToString() => $"exit {ExitCode}\n{Output}{Error}".TrimEnd();
}
