using System.Diagnostics;
using System.Text.Json.Nodes;
using RdmaCs.Memory;

namespace RdmaCs.Qemu;

/// <summary>Runs one live migration between two <see cref="QemuMachine"/>s and watches it from the source.</summary>
public static class LiveMigration
{
    /// <summary>Sets capabilities and parameters on both QEMUs, and makes the destination listen.</summary>
    public static void Prepare(QemuMachine source, QemuMachine destination, MigrationSettings settings)
    {
        foreach ((QemuMachine machine, string token) in new[] { (source, settings.SourceToken ?? settings.Token), (destination, settings.Token) })
        {
            machine.Qmp.Execute("migrate-set-capabilities", new()
            {
                ["capabilities"] = new JsonArray(new JsonObject { ["capability"] = "multifd", ["state"] = settings.Transport == MigrationTransport.Multifd }),
            });
            var parameters = new JsonObject { ["max-bandwidth"] = settings.MaxBandwidth, ["downtime-limit"] = settings.DowntimeLimitMs };
            if (settings.Transport == MigrationTransport.Multifd)
            {
                parameters["multifd-channels"] = settings.MultifdChannels;
            }
            if (settings.Transport == MigrationTransport.RdmaCs)
            {
                parameters["rdma-cs-budget"] = settings.BudgetBytes;
                parameters["rdma-cs-token"] = token;
                parameters["rdma-cs-provider"] = settings.Provider;
                parameters["rdma-cs-control-port"] = settings.ControlPort;
            }
            machine.Qmp.Execute("migrate-set-parameters", parameters);
        }
        destination.Qmp.Execute("migrate-incoming", new() { ["uri"] = settings.Uri });
    }

    /// <summary>
    /// Prepares both sides, starts the migration on the source, and polls it every <paramref name="interval"/> until
    /// it completes, fails, is cancelled, or <paramref name="timeout"/> passes; <paramref name="onProgress"/> sees
    /// each poll (and may act: cancel, kill the destination). Both QEMUs' VmLck is sampled every 2 ms throughout.
    /// <paramref name="beforeMigrate"/> runs once both sides are prepared (the destination listening), before <c>migrate</c>.
    /// </summary>
    public static MigrationOutcome Run(QemuMachine source, QemuMachine destination, MigrationSettings settings, TimeSpan timeout,
        Action<MigrationProgress>? onProgress = null, TimeSpan? interval = null, Action? beforeMigrate = null)
    {
        Prepare(source, destination, settings);
        beforeMigrate?.Invoke();
        var timeline = new List<MigrationProgress>();
        var clock = Stopwatch.StartNew();
        var locked = new LockedMemorySampler(source.Pid, TimeSpan.FromMilliseconds(2));
        var destinationLocked = new LockedMemorySampler(destination.Pid, TimeSpan.FromMilliseconds(2));
        var sourceCpu = new ThreadCpuSampler(source.Pid);
        var destinationCpu = new ThreadCpuSampler(destination.Pid);
        JsonNode status;
        try
        {
            source.Qmp.Execute("migrate", new() { ["uri"] = settings.Uri });
            while (true)
            {
                status = source.Qmp.Execute("query-migrate")!;
                MigrationProgress progress = Describe(status, clock.Elapsed, locked, settings.Transport == MigrationTransport.RdmaCs ? TryQueryRdmaCs(source) : null);
                timeline.Add(progress);
                if (progress.Status is "completed" or "failed" or "cancelled" || clock.Elapsed > timeout)
                {
                    break;
                }
                onProgress?.Invoke(progress);
                Thread.Sleep(interval ?? TimeSpan.FromMilliseconds(50));
            }
        }
        finally
        {
            locked.Dispose();
            destinationLocked.Dispose();
            sourceCpu.Dispose();
            destinationCpu.Dispose();
        }

        // QEMU reports "completed" a moment before it records the total time: ask again until it has.
        for (int i = 0; i < 50 && (string?)status["status"] == "completed" && ((long?)status["total-time"] ?? 0) == 0; i++)
        {
            Thread.Sleep(10);
            status = source.Qmp.Execute("query-migrate")!;
        }
        JsonNode? ram = status["ram"];
        return new MigrationOutcome
        {
            Settings = settings,
            Status = (string)status["status"]!,
            Error = (string?)status["error-desc"],
            TotalMs = (long?)status["total-time"] ?? 0,
            DowntimeMs = (long?)status["downtime"] ?? 0,
            SetupMs = (long?)status["setup-time"] ?? 0,
            TransferredBytes = (long?)ram?["transferred"] ?? 0,
            NormalPages = (long?)ram?["normal"] ?? 0,
            ZeroPages = (long?)ram?["duplicate"] ?? 0,
            Rounds = (long?)ram?["dirty-sync-count"] ?? 0,
            PeakLockedBytes = locked.PeakBytes,
            LockedSamples = locked.Samples.Count,
            LockedAfterBytes = WaitForUnlocked(source.Pid, TimeSpan.FromSeconds(5)),
            DestinationPeakLockedBytes = destinationLocked.PeakBytes,
            DestinationLockedSamples = destinationLocked.Samples.Count,
            DestinationLockedAfterBytes = destination.HasExited ? 0 : WaitForUnlocked(destination.Pid, TimeSpan.FromSeconds(5)),
            RdmaCs = settings.Transport == MigrationTransport.RdmaCs ? TryQueryRdmaCs(source) : null,
            DestinationRdmaCs = settings.Transport == MigrationTransport.RdmaCs && !destination.HasExited ? TryQueryRdmaCs(destination) : null,
            SourceCpu = sourceCpu.SecondsByThread(),
            DestinationCpu = destinationCpu.SecondsByThread(),
            Timeline = timeline,
        };
    }

    /// <summary>A QEMU's query-rdma-cs, or null before the plugin exists.</summary>
    public static JsonNode? TryQueryRdmaCs(QemuMachine machine)
    {
        try
        {
            return machine.Qmp.Execute("query-rdma-cs");
        }
        catch (QmpException)
        {
            return null;
        }
    }

    /// <summary>VmLck of <paramref name="pid"/> once it is zero, or when <paramref name="timeout"/> passes (cleanup runs after "completed").</summary>
    public static long WaitForUnlocked(int pid, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        long bytes;
        while ((bytes = ProcessMemoryStatus.ReadLockedBytes(pid)) != 0 && clock.Elapsed < timeout)
        {
            Thread.Sleep(20);
        }
        return bytes;
    }

    private static MigrationProgress Describe(JsonNode status, TimeSpan elapsed, LockedMemorySampler locked, JsonNode? rdmaCs)
    {
        JsonNode? ram = status["ram"];
        IReadOnlyList<(TimeSpan At, long Bytes)> samples = locked.Samples;
        return new MigrationProgress
        {
            Elapsed = elapsed,
            Status = (string)status["status"]!,
            Round = (long?)ram?["dirty-sync-count"] ?? 0,
            TransferredBytes = (long?)ram?["transferred"] ?? 0,
            RemainingBytes = (long?)ram?["remaining"] ?? 0,
            TotalBytes = (long?)ram?["total"] ?? 0,
            Mbps = (double?)ram?["mbps"] ?? 0,
            LockedBytes = samples.Count > 0 ? samples[^1].Bytes : 0,
            PinnedBytes = (long?)rdmaCs?["pinned"] ?? 0,
            BudgetBytes = (long?)rdmaCs?["budget"] ?? 0,
            BacklogPages = (long?)rdmaCs?["backlog"] ?? 0,
            MovedBytes = ((long?)rdmaCs?["transferred"] ?? 0) + ((long?)rdmaCs?["zero-pages"] ?? 0) * ((long?)ram?["page-size"] ?? 4096),
        };
    }
}
