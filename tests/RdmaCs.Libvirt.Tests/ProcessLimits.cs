using System.Globalization;

namespace RdmaCs.Libvirt.Tests;

/// <summary>What the kernel allows a process to lock: the limits libvirtd and its QEMUs inherit from the tests.</summary>
internal static class ProcessLimits
{
    private const int CapSysResource = 24; // linux/capability.h

    /// <summary>The soft RLIMIT_MEMLOCK of <paramref name="pid"/> (or this process) in bytes; null when unlimited.</summary>
    public static long? LockedMemoryLimit(int? pid = null)
    {
        string line = File.ReadLines($"/proc/{(pid is null ? "self" : pid.Value.ToString(CultureInfo.InvariantCulture))}/limits")
            .Single(l => l.StartsWith("Max locked memory", StringComparison.Ordinal));
        string soft = line["Max locked memory".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
        return soft == "unlimited" ? null : long.Parse(soft, CultureInfo.InvariantCulture);
    }

    /// <summary>Whether this process (and so libvirtd, started by it as root) may raise other processes' limits.</summary>
    public static bool CanRaiseLimits
    {
        get
        {
            string capEff = File.ReadLines("/proc/self/status").Single(l => l.StartsWith("CapEff:", StringComparison.Ordinal))["CapEff:".Length..].Trim();
            return (ulong.Parse(capEff, NumberStyles.HexNumber, CultureInfo.InvariantCulture) & (1UL << CapSysResource)) != 0;
        }
    }
}
