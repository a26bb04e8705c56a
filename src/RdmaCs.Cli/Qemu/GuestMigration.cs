using System.Text.Json.Nodes;
using RdmaCs.Configuration;
using RdmaCs.Qemu;

namespace RdmaCs.Cli.Qemu;

/// <summary>
/// One migration of a test guest between two fresh QEMU processes on this host, then the check of its outcome: the
/// memories of source and destination (both stopped) compared byte for byte, and for the page writer every page whole.
/// </summary>
internal static class GuestMigration
{
    public sealed record Settings(long MemoryBytes, long BudgetBytes, string Provider, GuestImage Guest, TimeSpan WarmUp, TimeSpan Timeout);

    public sealed record Result(MigrationOutcome Outcome, bool Verified, string Verification)
    {
        public string Name => Outcome.Settings.Name;

        /// <summary>The summary fields the demo and the benchmark print for each transport.</summary>
        public JsonObject ToJson()
        {
            var json = new JsonObject
            {
                ["status"] = Outcome.Status,
                ["verified"] = Verified,
                ["total_ms"] = Outcome.TotalMs,
                ["downtime_ms"] = Outcome.DowntimeMs,
                ["setup_ms"] = Outcome.SetupMs,
                ["transferred_bytes"] = Outcome.TransferredBytes,
                ["peak_pinned_bytes"] = Outcome.PeakLockedBytes,
                ["pinned_after_bytes"] = Outcome.LockedAfterBytes,
                ["rounds"] = Outcome.Rounds,
                ["normal_pages"] = Outcome.NormalPages,
                ["zero_pages"] = Outcome.ZeroPages,
            };
            json["cpu_seconds"] = new JsonObject
            {
                ["source"] = CpuJson(Outcome.SourceCpu),
                ["destination"] = CpuJson(Outcome.DestinationCpu),
            };
            if (Outcome.RdmaCs is { } rdmaCs)
            {
                json["rdma_cs"] = rdmaCs.DeepClone();
            }
            if (Outcome.Error is { } error)
            {
                json["error"] = error;
            }
            return json;
        }
    }

    /// <summary>CPU seconds by thread name, two decimals, and their total.</summary>
    private static JsonObject CpuJson(IReadOnlyList<(string Thread, double Seconds)> threads)
    {
        var json = new JsonObject { ["total"] = Math.Round(threads.Sum(t => t.Seconds), 2) };
        foreach ((string thread, double seconds) in threads)
        {
            json[thread] = Math.Round(seconds, 2);
        }
        return json;
    }

    public static Result Run(Settings settings, MigrationTransport transport, Action<MigrationProgress>? onProgress = null)
    {
        using var destination = QemuMachine.StartDestination($"{Name(transport)}-destination", settings.MemoryBytes, settings.Guest);
        using var source = QemuMachine.StartSource($"{Name(transport)}-source", settings.MemoryBytes, settings.Guest);
        Thread.Sleep(settings.WarmUp); // the guest boots and rewrites its RAM for a while first
        WaitForFirstSweep(source);
        var migration = new MigrationSettings
        {
            Transport = transport,
            Port = MigrationSettings.FreePort(),
            ControlPort = MigrationSettings.FreePort(),
            BudgetBytes = settings.BudgetBytes,
            Token = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)),
            Provider = settings.Provider,
        };
        MigrationOutcome outcome = LiveMigration.Run(source, destination, migration, settings.Timeout, onProgress, TimeSpan.FromMilliseconds(25));
        if (!outcome.Completed)
        {
            string logs = $"source QEMU: {Last(source.LogText)}; destination QEMU: {Last(destination.LogText)}";
            return new Result(outcome, false, $"migration {outcome.Status}: {outcome.Error ?? "no error given"} ({logs})");
        }
        return Verify(outcome, source, destination, settings.Guest);
    }

    /// <summary>
    /// Until the guest has been through all of its memory once: the page writer's pages are checked whole afterwards
    /// (before its first sweep, the firmware's tables lie above it), and Linux must have booted.
    /// </summary>
    private static void WaitForFirstSweep(QemuMachine source)
    {
        if (source.Guest is LinuxGuest)
        {
            GuestReport? report = LinuxGuest.WaitForSweeps(source, 1, TimeSpan.FromMinutes(3));
            if (report is not { Corruption.Count: 0 })
            {
                throw new TimeoutException($"the Linux guest did not boot and check its memory once within 3 minutes: {LinuxGuest.Report(source).Tail}");
            }
        }
        else if (!source.Monitor.WaitForFirstSweep(TimeSpan.FromMinutes(2)))
        {
            throw new TimeoutException("the test guest did not write all of its RAM within 2 minutes");
        }
    }

    private static Result Verify(MigrationOutcome outcome, QemuMachine source, QemuMachine destination, GuestImage guest)
    {
        byte[] before = source.ReadMemory();
        byte[] after = destination.ReadMemory();
        long first = GuestMemory.FirstDifference(before, after);
        if (first >= 0)
        {
            return new Result(outcome, false, $"guest memory differs first at 0x{first:x}");
        }
        if (guest is not GuestLoad load)
        {
            return new Result(outcome, true, $"{ByteSize.FormatApproximate(before.Length)} equal byte for byte");
        }
        int torn = GuestMemory.TornPages(after, load);
        if (torn > 1)
        {
            return new Result(outcome, false, $"{torn} pages are torn (at most the one being written may be)");
        }
        return new Result(outcome, true,
            $"{ByteSize.FormatApproximate(before.Length)} equal byte for byte, every page whole (guest generation {GuestMemory.FirstGeneration(after)})");
    }

    public static string Name(MigrationTransport transport) => new MigrationSettings { Transport = transport, Port = 0 }.Name;

    private static string Last(string log) => log.Length == 0 ? "(nothing)" : log.Split('\n')[^1];
}
