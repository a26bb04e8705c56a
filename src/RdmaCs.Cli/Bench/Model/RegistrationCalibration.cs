using System.Diagnostics;
using System.Text.Json.Nodes;
using RdmaCs.Bindings.LibFabric;
using RdmaCs.Cli.Output;
using RdmaCs.Fabric.LibFabric;
using RdmaCs.Memory;

namespace RdmaCs.Cli.Bench.Model;

/// <summary>
/// What pinning costs on this machine, per MiB: <c>mlock</c> of memory never touched (faulting in and pinning the pages)
/// and of memory already resident (pinning alone: the kernel's share of a NIC registration of guest RAM in use),
/// <c>munlock</c>, and the tcp provider's <c>fi_mr_reg</c> and close (a table entry: no pinning). A NIC adds mapping the
/// pages into its translation tables.
/// </summary>
internal sealed record RegistrationCalibration(TimeSpan LockPerMiB, TimeSpan UnlockPerMiB, TimeSpan TcpRegisterPerMiB, TimeSpan TcpDeregisterPerMiB,
    TimeSpan ResidentLockPerMiB)
{
    /// <summary>Measures over a fresh <paramref name="regionBytes"/> region (never touched before: as guest RAM the first time) in blocks.</summary>
    public static RegistrationCalibration Measure(long regionBytes, long blockBytes)
    {
        using var region = new AlignedBuffer(regionBytes, alignment: AlignedBuffer.HugePageSize, zeroed: false);
        long blocks = regionBytes / blockBytes;
        var clock = new Stopwatch();
        TimeSpan PerMiB(TimeSpan total) => total / (regionBytes / (double)(1 << 20));

        clock.Restart();
        for (long i = 0; i < blocks; i++)
        {
            MemoryLock.Lock(region.Address + (nint)(i * blockBytes), blockBytes);
        }
        TimeSpan locked = clock.Elapsed;

        using FabricInfo info = FabricInfo.Find("tcp", "127.0.0.1", "0", passive: true);
        using FabricDomain domain = FabricDomain.Open(info);
        var regions = new List<FabricMemoryRegion>();
        clock.Restart();
        for (long i = 0; i < blocks; i++)
        {
            regions.Add(domain.Register(region.Address + (nint)(i * blockBytes), blockBytes, Fi.FI_WRITE, (ulong)i + 1));
        }
        TimeSpan registered = clock.Elapsed;
        clock.Restart();
        regions.ForEach(r => r.Dispose());
        TimeSpan deregistered = clock.Elapsed;

        clock.Restart();
        for (long i = 0; i < blocks; i++)
        {
            MemoryLock.Unlock(region.Address + (nint)(i * blockBytes), blockBytes);
        }
        TimeSpan unlocked = clock.Elapsed;

        // Again, now that the pages are there: what pinning costs for memory already in use (most of a guest's RAM).
        clock.Restart();
        for (long i = 0; i < blocks; i++)
        {
            MemoryLock.Lock(region.Address + (nint)(i * blockBytes), blockBytes);
        }
        TimeSpan relocked = clock.Elapsed;
        for (long i = 0; i < blocks; i++)
        {
            MemoryLock.Unlock(region.Address + (nint)(i * blockBytes), blockBytes);
        }
        return new RegistrationCalibration(PerMiB(locked), PerMiB(unlocked), PerMiB(registered), PerMiB(deregistered), PerMiB(relocked));
    }

    public JsonObject ToJson() => new()
    {
        ["mlock_us_per_mib"] = Report.Round(LockPerMiB.TotalMicroseconds),
        ["mlock_resident_us_per_mib"] = Report.Round(ResidentLockPerMiB.TotalMicroseconds),
        ["munlock_us_per_mib"] = Report.Round(UnlockPerMiB.TotalMicroseconds),
        ["tcp_fi_mr_reg_us_per_mib"] = Report.Round(TcpRegisterPerMiB.TotalMicroseconds),
        ["tcp_fi_mr_close_us_per_mib"] = Report.Round(TcpDeregisterPerMiB.TotalMicroseconds),
    };
}
