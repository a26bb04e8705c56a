using System.Diagnostics;
using System.Text.Json.Nodes;
using RdmaCs.Cli.Commands;
using RdmaCs.Cli.Output;
using RdmaCs.Configuration;
using RdmaCs.Fabric.Memory;
using RdmaCs.Memory;
using RdmaCs.Statistics;

namespace RdmaCs.Cli.Bench;

/// <summary>
/// <c>rdmacs bench engine</c>: what designation costs per page, and what the budget costs in throughput:
/// the same region moved with mlock pinning at the budget and with an unbounded budget, in the same run.
/// </summary>
internal static class EngineBenchmark
{
    public sealed record Settings(long SizeBytes, long BudgetBytes, long MaxBlockBytes, int Repeat, bool Json);

    private const int DesignationPasses = 11;
    private static readonly TimeSpan FlushTimeout = TimeSpan.FromMinutes(5);

    public static int Run(Settings settings)
    {
        EngineOptions? budgeted = EngineOptionsFromCommandLine.Create("bench engine", settings.SizeBytes, settings.BudgetBytes, settings.MaxBlockBytes);
        if (budgeted is null)
        {
            return 2;
        }
        // Valid whenever the budgeted options and the size are: a budget of the whole region, at least one block.
        EngineOptions unbounded = budgeted with { BudgetBytes = Math.Max(settings.SizeBytes, settings.MaxBlockBytes) };

        Progress(settings, "designation cost per page (single thread)...");
        (double newNs, double againNs) = MeasureDesignation(settings.SizeBytes, budgeted.PageSize);

        var budgetedRuns = new List<TransferRun>();
        var unboundedRuns = new List<TransferRun>();
        using (var transfer = new MemoryTransfer(budgeted, [settings.SizeBytes]))
        {
            for (long page = 0; page < transfer.PageCount(0); page++)
            {
                PagePattern.Fill(transfer.SourcePage(0, page), 0, page, version: 1);
            }
            for (int i = 0; i < settings.Repeat; i++)
            {
                // Alternate, so that drift in the machine's speed hits both kinds alike.
                Progress(settings, $"transfer {i + 1}/{settings.Repeat}: budget {ByteSize.Format(settings.BudgetBytes)}...");
                budgetedRuns.Add(MeasureTransfer(transfer, budgeted));
                Progress(settings, $"transfer {i + 1}/{settings.Repeat}: unbounded...");
                unboundedRuns.Add(MeasureTransfer(transfer, unbounded));
            }
        }
        Progress(settings, "memcpy baseline...");
        double memcpyGbps = MeasureMemcpy(Math.Min(settings.SizeBytes, 256L << 20));

        double budgetedGbps = Median(budgetedRuns.Select(run => run.Gbps));
        double unboundedGbps = Median(unboundedRuns.Select(run => run.Gbps));
        var result = new JsonObject
        {
            ["benchmark"] = "engine",
            ["page_size"] = budgeted.PageSize,
            ["region_bytes"] = settings.SizeBytes,
            ["budget_bytes"] = settings.BudgetBytes,
            ["max_block_bytes"] = settings.MaxBlockBytes,
            ["designate_ns_per_page"] = Report.Round(Math.Max(newNs, againNs)),
            ["designate_new_ns_per_page"] = Report.Round(newNs),
            ["designate_again_ns_per_page"] = Report.Round(againNs),
            ["budgeted"] = RunsJson(budgetedRuns),
            ["unbounded"] = RunsJson(unboundedRuns),
            ["budgeted_vs_unbounded"] = Report.Round(budgetedGbps / unboundedGbps),
            // The same, with the final deregistration (unpinning) of each run counted in its time.
            ["budgeted_vs_unbounded_with_release"] = Report.Round(
                Median(unboundedRuns.Select(run => run.TimeWithRelease.TotalMilliseconds)) /
                Median(budgetedRuns.Select(run => run.TimeWithRelease.TotalMilliseconds))),
            ["memcpy_gbps"] = Report.Round(memcpyGbps),
            ["budgeted_vs_memcpy"] = Report.Round(budgetedGbps / memcpyGbps),
            ["targets"] = new JsonObject { ["designate_ns_per_page"] = 20, ["budgeted_vs_unbounded"] = 0.95 },
        };
        if (settings.Json)
        {
            Report.PrintJson(result);
        }
        else
        {
            Console.Out.WriteLine($"Engine benchmark: {ByteSize.FormatApproximate(settings.SizeBytes)} region, budget {ByteSize.FormatApproximate(settings.BudgetBytes)}, {settings.Repeat} runs each");
            Report.Line("designate, new page", $"{newNs:0.0} ns   (target <= 20)");
            Report.Line("designate, already", $"{againNs:0.0} ns");
            Report.Line("budgeted (mlock)", $"{budgetedGbps:0.00} GB/s, peak VmLck {ByteSize.FormatApproximate(budgetedRuns.Max(run => run.PeakVmLck))}");
            Report.Line("unbounded (mlock)", $"{unboundedGbps:0.00} GB/s, peak VmLck {ByteSize.FormatApproximate(unboundedRuns.Max(run => run.PeakVmLck))}");
            Report.Line("budgeted / unbounded", $"{budgetedGbps / unboundedGbps:0.000}   (target >= 0.95)");
            Report.Line("  counting unpinning", $"{result["budgeted_vs_unbounded_with_release"]}");
            Report.Line("memcpy (physical limit)", $"{memcpyGbps:0.00} GB/s");
        }
        bool budgetHeld = budgetedRuns.All(run => run.PeakVmLck <= settings.BudgetBytes && run.Verified) && unboundedRuns.All(run => run.Verified);
        return budgetHeld ? 0 : 1;
    }

    /// <summary>
    /// Median ns per page over fresh engines: designating pages not yet designated, then designating them
    /// again. The engine's worker is parked on a held write (budget of one page), so no bit is cleared under us.
    /// </summary>
    private static (double NewNs, double AgainNs) MeasureDesignation(long sizeBytes, int pageSize)
    {
        var options = new EngineOptions { BudgetBytes = pageSize, MaxBlockBytes = pageSize };
        var newNs = new List<double>();
        var againNs = new List<double>();
        for (int pass = 0; pass < DesignationPasses + 1; pass++)
        {
            using var transfer = new MemoryTransfer(options, [sizeBytes], prefault: false);
            transfer.Fabric.HoldWrites = true;
            transfer.Engine.DesignatePage(0, 0);
            SpinWait.SpinUntil(() => transfer.Engine.Statistics.WritesInFlight == 1, FlushTimeout);
            long pages = transfer.PageCount(0);

            long start = Stopwatch.GetTimestamp();
            for (long page = 1; page < pages; page++)
            {
                transfer.Engine.DesignatePage(0, page);
            }
            long middle = Stopwatch.GetTimestamp();
            for (long page = 1; page < pages; page++)
            {
                transfer.Engine.DesignatePage(0, page);
            }
            long end = Stopwatch.GetTimestamp();

            if (pass > 0) // the first pass warms up the JIT
            {
                newNs.Add(Stopwatch.GetElapsedTime(start, middle).TotalNanoseconds / (pages - 1));
                againNs.Add(Stopwatch.GetElapsedTime(middle, end).TotalNanoseconds / (pages - 1));
            }
            // Not flushed: moving a GiB one page at a time is not what this measures. Dispose drains the held write.
            transfer.Fabric.HoldWrites = false;
        }
        return (Median(newNs), Median(againNs));
    }

    private sealed record TransferRun(TimeSpan Time, TimeSpan TimeWithRelease, double Gbps, EngineStatistics Statistics, long PeakVmLck, bool Verified);

    /// <summary>One bulk pass with a fresh engine: every page designated, then flushed; timed from the first designation to the flush.</summary>
    private static TransferRun MeasureTransfer(MemoryTransfer transfer, EngineOptions options)
    {
        transfer.StartEngine(options);
        long sizeBytes = transfer.PageCount(0) * transfer.PageSize;
        using var locked = new LockedMemorySampler();
        long start = Stopwatch.GetTimestamp();
        transfer.Engine.DesignateRange(0, 0, sizeBytes);
        transfer.Engine.Flush(1, FlushTimeout);
        TimeSpan time = Stopwatch.GetElapsedTime(start);
        EngineStatistics statistics = transfer.Engine.Statistics;
        // Unpinning what is still registered is work too, only deferred: an unbounded budget defers all of it.
        long releaseStart = Stopwatch.GetTimestamp();
        transfer.DisposeEngine();
        TimeSpan release = Stopwatch.GetElapsedTime(releaseStart);
        locked.Dispose();
        bool verified = transfer.FirstDifference() is null;
        return new TransferRun(time, time + release, sizeBytes / time.TotalSeconds / 1e9, statistics, locked.PeakBytes, verified);
    }

    private static unsafe double MeasureMemcpy(long bytes)
    {
        using var source = new AlignedBuffer(bytes);
        using var destination = new AlignedBuffer(bytes);
        var gbps = new List<double>();
        for (int i = 0; i < 3; i++)
        {
            long start = Stopwatch.GetTimestamp();
            Buffer.MemoryCopy((void*)source.Address, (void*)destination.Address, bytes, bytes);
            gbps.Add(bytes / Stopwatch.GetElapsedTime(start).TotalSeconds / 1e9);
        }
        return Median(gbps);
    }

    private static JsonObject RunsJson(List<TransferRun> runs)
    {
        TransferRun median = runs.OrderBy(run => run.Time).ElementAt(runs.Count / 2);
        return new JsonObject
        {
            ["gbps"] = Report.Round(Median(runs.Select(run => run.Gbps))),
            ["median_ms"] = Report.Round(median.Time.TotalMilliseconds),
            ["median_ms_with_release"] = Report.Round(Median(runs.Select(run => run.TimeWithRelease.TotalMilliseconds))),
            ["runs_ms"] = new JsonArray([.. runs.Select(run => (JsonNode)Report.Round(run.Time.TotalMilliseconds))]),
            ["verified"] = runs.All(run => run.Verified),
            ["peak_pinned_bytes"] = runs.Max(run => run.Statistics.PeakPinnedBytes),
            ["peak_vmlck_bytes"] = runs.Max(run => run.PeakVmLck),
            ["registrations"] = median.Statistics.Registrations,
            ["evictions"] = median.Statistics.Evictions,
            ["budget_wait_ms"] = Report.Round(median.Statistics.BudgetWait.TotalMilliseconds),
        };
    }

    private static double Median(IEnumerable<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static void Progress(Settings settings, string message) => Console.Error.WriteLine($"rdmacs bench engine: {message}");
}
