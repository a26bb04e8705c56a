using System.Diagnostics;
using System.Text.Json.Nodes;
using RdmaCs.Cli.Commands;
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
        EngineOptions? options = EngineOptionsFromCommandLine.Create("demo", settings.SizeBytes, settings.BudgetBytes, settings.MaxBlockBytes);
        if (options is null)
        {
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
        RamBlock source = transfer.SourceBlock(0);
        using var writer = new DirtyingWriter(source, transfer.Engine, settings.DirtyPagesPerSecond);
        using var progress = settings.Json ? null : new ProgressLine(transfer.Engine);
        try
        {
            PreCopyLoop.Outcome outcome = PreCopyLoop.Run(transfer.Engine, source, writer, settings.Rounds,
                round => transfer.Engine.Flush(round, FlushTimeout), progress);

            (int Block, long Page)? difference = transfer.FirstDifference();
            EngineStatistics statistics = transfer.Engine.Statistics;
            transfer.DisposeEngine();
            var facts = new TransferReport.Facts(
                difference is null,
                difference is null ? "destination equals source, page for page" : $"first difference at block {difference.Value.Block} page {difference.Value.Page}",
                settings.SizeBytes, settings.BudgetBytes, outcome, statistics, locked.PeakBytes, ProcessMemoryStatus.ReadLockedBytes(),
                writer.Rewrites, "memory (in-process)");
            if (settings.Json)
            {
                Report.PrintJson(TransferReport.ToJson(facts));
            }
            else
            {
                TransferReport.Print(facts);
            }
            return TransferReport.Succeeded(facts) ? 0 : 1;
        }
        catch (Exception e) when (e is EngineFailedException or TimeoutException)
        {
            progress?.Finish();
            Console.Error.WriteLine($"rdmacs demo: {e.Message}");
            return 1;
        }
    }
}
