using System.Diagnostics;
using System.Text.Json.Nodes;
using RdmaCs.Memory;
using RdmaCs.Qemu;

namespace RdmaCs.Libvirt;

/// <summary>What a watched <c>virsh migrate</c> did.</summary>
/// <param name="Virsh">How virsh exited and what it printed.</param>
/// <param name="PeakLockedBytes">The source QEMU's highest VmLck, sampled every 2 ms during the migration.</param>
/// <param name="LockedSamples">How many VmLck samples there were.</param>
/// <param name="Progress"><c>virsh domjobinfo</c> on the source while the migration ran.</param>
/// <param name="SourceMemory">The source guest's memory once it stopped for the switchover, or null.</param>
/// <param name="DestinationPeakLockedBytes">The destination QEMU's highest VmLck, sampled every 2 ms from when it appeared
/// (when a destination host was given).</param>
/// <param name="DestinationLockedSamples">How many of those samples there were.</param>
public sealed record VirshMigrationOutcome(
    VirshResult Virsh, TimeSpan Elapsed, long PeakLockedBytes, int LockedSamples, IReadOnlyList<DomainJobInfo> Progress,
    byte[]? SourceMemory, long DestinationPeakLockedBytes = 0, int DestinationLockedSamples = 0);

/// <summary>
/// Runs <c>virsh migrate</c> against a source host and watches it from outside: both QEMUs' VmLck, the job's
/// progress (<c>virsh domjobinfo</c>), and the source guest's memory at the switchover. libvirt kills the source QEMU as
/// soon as the migration completes, so that memory is read when QEMU pauses before the switchover (libvirt always asks
/// for pause-before-switchover): the guest is stopped then and its memory final, and the source libvirtd is held
/// (SIGSTOP) while QEMU dumps it, so that it can neither kill nor resume anything meanwhile.
/// </summary>
public static class VirshMigration
{
    /// <param name="onProgress">Called with each <c>virsh domjobinfo</c> taken while the migration runs.</param>
    /// <param name="captureSourceMemory">
    /// Whether to read the source's memory at the switchover: it holds the source paused while QEMU dumps it, which
    /// libvirt counts as downtime, so timings are only meaningful without it.
    /// </param>
    /// <param name="destination">The destination host, whose QEMU's VmLck is sampled once libvirt has started it; null: not watched.</param>
    public static VirshMigrationOutcome Run(LibvirtHost source, TestDomain domain, IEnumerable<string> virshArguments, TimeSpan timeout,
        Action<DomainJobInfo>? onProgress = null, bool captureSourceMemory = true, LibvirtHost? destination = null)
    {
        int pid = source.QemuPid(domain.Name) ?? throw new InvalidOperationException($"{domain.Name} is not running on {source.Name}");
        using GuestMonitor monitor = source.Monitor(domain);
        var clock = Stopwatch.StartNew();
        using var sampler = new LockedMemorySampler(pid);
        Task<byte[]?> capture = captureSourceMemory ? Task.Run(() => CaptureAtSwitchover(source, monitor, timeout)) : Task.FromResult<byte[]?>(null);
        Task<VirshResult> migrate = Task.Run(() => source.Virsh(timeout, ["migrate", .. virshArguments]));
        var progress = new List<DomainJobInfo>();
        LockedMemorySampler? destinationSampler = null; // from when libvirt has started the destination QEMU
        while (!migrate.IsCompleted)
        {
            if (destination is not null && destinationSampler is null && destination.QemuPid(domain.Name) is { } destinationPid)
            {
                destinationSampler = new LockedMemorySampler(destinationPid);
            }
            VirshResult jobInfo = source.Virsh("domjobinfo", domain.Name);
            if (jobInfo.Succeeded)
            {
                progress.Add(DomainJobInfo.Parse(jobInfo.Output));
                onProgress?.Invoke(progress[^1]);
            }
            migrate.Wait(TimeSpan.FromMilliseconds(100));
        }
        VirshResult result = migrate.Result;
        TimeSpan elapsed = clock.Elapsed;
        monitor.Dispose(); // ends the capture's wait when the migration never reached the switchover
        byte[]? sourceMemory = capture.Result;
        sampler.Dispose();
        destinationSampler?.Dispose();
        return new VirshMigrationOutcome(result, elapsed, sampler.PeakBytes, sampler.Samples.Count, progress, sourceMemory,
            destinationSampler?.PeakBytes ?? 0, destinationSampler?.Samples.Count ?? 0);
    }

    private static byte[]? CaptureAtSwitchover(LibvirtHost source, GuestMonitor monitor, TimeSpan timeout)
    {
        try
        {
            JsonNode migrationEvent = monitor.Qmp.WaitForEvent(
                e => (string?)e["event"] == "MIGRATION" && (string?)e["data"]?["status"] is "pre-switchover" or "completed" or "failed" or "cancelled",
                timeout);
            if ((string?)migrationEvent["data"]!["status"] != "pre-switchover")
            {
                return null;
            }
            using (source.Freeze())
            {
                return monitor.ReadMemory();
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or TimeoutException or QmpException)
        {
            return null; // QEMU or the monitor went away: the migration failed, or never got that far
        }
    }
}
