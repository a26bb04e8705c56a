using System.Diagnostics;
using System.Text.Json.Nodes;
using RdmaCs.Cli.Output;
using RdmaCs.Configuration;
using RdmaCs.Fabric.Memory;
using RdmaCs.Memory;
using RdmaCs.Statistics;
using RdmaCs.Transfer;

namespace RdmaCs.Cli.Demo;

/// <summary>
/// The engine's live-transfer demo: pre-copy rounds over a region a writer keeps dirtying, a final pass with
/// the writer stopped, then a page-by-page comparison of source and destination.
/// </summary>
internal static class LiveTransferDemo
{
    public sealed record Settings(long SizeBytes, long BudgetBytes, long MaxBlockBytes, int DirtyPagesPerSecond, int Rounds, bool Json);

    private static readonly TimeSpan FlushTimeout = TimeSpan.FromMinutes(5);

    public static int Run(Settings settings)
    {
        var options = new EngineOptions { BudgetBytes = settings.BudgetBytes, MaxBlockBytes = settings.MaxBlockBytes };
        try
        {
            options.Validate();
            if (settings.SizeBytes <= 0 || settings.SizeBytes % options.PageSize != 0)
            {
                throw new EngineConfigurationException($"--size must be a positive whole number of {options.PageSize}-byte pages");
            }
        }
        catch (EngineConfigurationException e)
        {
            Console.Error.WriteLine($"rdmacs demo: {e.Message}");
            return 2;
        }

        TextWriter log = settings.Json ? Console.Error : Console.Out;
        if (!settings.Json)
        {
            log.WriteLine($"rdmacs demo: migrating {ByteSize.FormatApproximate(settings.SizeBytes)} with a budget of " +
                          $"{ByteSize.FormatApproximate(settings.BudgetBytes)} while a writer dirties {settings.DirtyPagesPerSecond} pages/s");
        }
        using var transfer = new MemoryTransfer(options, [settings.SizeBytes],
            log: (level, message) => { if (level >= EngineLogLevel.Info) { log.WriteLine($"  [{level.ToString().ToLowerInvariant()}] {message}"); } });
        long pages = transfer.PageCount(0);
        for (long page = 0; page < pages; page++)
        {
            PagePattern.Fill(transfer.SourcePage(0, page), 0, page, version: 0);
        }

        using var locked = new LockedMemorySampler();
        using var writer = new DirtyingWriter(transfer, settings.DirtyPagesPerSecond);
        using var progress = settings.Json ? null : new ProgressLine(transfer.Engine, settings.Rounds);
        var rounds = new JsonArray();
        Stopwatch total = Stopwatch.StartNew();
        try
        {
            // Round 1 is the bulk copy: every page is designated, as QEMU's first pass over RAM does.
            transfer.Engine.DesignateRange(0, 0, settings.SizeBytes);
            writer.Start();
            for (int round = 1; round <= settings.Rounds; round++)
            {
                progress?.SetPhase($"round {round}/{settings.Rounds}");
                long before = transfer.Engine.Statistics.BytesWritten;
                Stopwatch roundTime = Stopwatch.StartNew();
                transfer.Engine.Flush(round, FlushTimeout);
                rounds.Add(RoundJson(round, transfer.Engine.Statistics.BytesWritten - before, roundTime.Elapsed));
                progress?.RoundDone(round, transfer.Engine.Statistics.BytesWritten - before, roundTime.Elapsed);
            }

            // Stop-and-copy: the "guest" is paused; what it dirtied since the last round goes now.
            progress?.SetPhase("final pass (writer stopped)");
            writer.Stop();
            long finalBefore = transfer.Engine.Statistics.BytesWritten;
            Stopwatch downtime = Stopwatch.StartNew();
            transfer.Engine.Flush(settings.Rounds + 1, FlushTimeout);
            downtime.Stop();
            total.Stop();
            progress?.Finish();

            (int Block, long Page)? difference = transfer.FirstDifference();
            EngineStatistics statistics = transfer.Engine.Statistics;
            transfer.DisposeEngine();
            long lockedAfter = ProcessMemoryStatus.ReadLockedBytes();

            var result = new JsonObject
            {
                ["verified"] = difference is null,
                ["first_difference"] = difference is null ? null : $"block {difference.Value.Block} page {difference.Value.Page}",
                ["size_bytes"] = settings.SizeBytes,
                ["budget_bytes"] = settings.BudgetBytes,
                ["total_ms"] = Report.Round(total.Elapsed.TotalMilliseconds),
                ["downtime_ms"] = Report.Round(downtime.Elapsed.TotalMilliseconds),
                ["final_pass_bytes"] = statistics.BytesWritten - finalBefore,
                ["transferred_bytes"] = statistics.BytesWritten,
                ["peak_pinned_bytes"] = statistics.PeakPinnedBytes,
                ["peak_vmlck_bytes"] = locked.PeakBytes,
                ["vmlck_after_bytes"] = lockedAfter,
                ["writer_rewrites"] = writer.Rewrites,
                ["rounds"] = rounds,
                ["engine"] = Report.ToJson(statistics),
            };
            if (settings.Json)
            {
                Report.PrintJson(result);
            }
            else
            {
                PrintSummary(result, statistics, total.Elapsed, downtime.Elapsed);
            }
            return difference is null && locked.PeakBytes <= settings.BudgetBytes && lockedAfter == 0 ? 0 : 1;
        }
        catch (Exception e) when (e is EngineFailedException or TimeoutException)
        {
            progress?.Finish();
            Console.Error.WriteLine($"rdmacs demo: {e.Message}");
            return 1;
        }
    }

    private static JsonObject RoundJson(int round, long bytes, TimeSpan time) => new()
    {
        ["round"] = round,
        ["bytes"] = bytes,
        ["ms"] = Report.Round(time.TotalMilliseconds),
    };

    private static void PrintSummary(JsonObject result, EngineStatistics statistics, TimeSpan total, TimeSpan downtime)
    {
        bool verified = (bool)result["verified"]!;
        long peakLocked = (long)result["peak_vmlck_bytes"]!;
        Console.Out.WriteLine();
        Console.Out.WriteLine(verified ? "Verified: destination equals source, page for page." : $"NOT VERIFIED: first difference at {result["first_difference"]}");
        Report.Line("total time", $"{total.TotalMilliseconds:0} ms");
        Report.Line("final pass (downtime)", $"{downtime.TotalMilliseconds:0.0} ms, {ByteSize.FormatApproximate((long)result["final_pass_bytes"]!)}");
        Report.Line("transferred", $"{ByteSize.FormatApproximate(statistics.BytesWritten)} in {statistics.BlocksWritten} writes ({Report.Gbps(statistics.BytesWritten, total)})");
        Report.Line("budget", ByteSize.FormatApproximate(statistics.BudgetBytes));
        Report.Line("peak pinned (engine)", ByteSize.FormatApproximate(statistics.PeakPinnedBytes));
        Report.Line("peak VmLck (kernel)", $"{ByteSize.FormatApproximate(peakLocked)}{(peakLocked <= statistics.BudgetBytes ? "" : "  ABOVE BUDGET")}");
        Report.Line("VmLck after", ByteSize.FormatApproximate((long)result["vmlck_after_bytes"]!));
        Report.Line("registrations", $"{statistics.Registrations} ({ByteSize.FormatApproximate(statistics.RegisteredBytes)}), {statistics.CacheHits} cache hits, {statistics.Evictions} evictions");
        Report.Line("waited for budget", $"{statistics.BudgetWait.TotalMilliseconds:0} ms");
    }
}
