using System.Diagnostics;
using System.Text.Json.Nodes;
using RdmaCs.Cli.Output;
using RdmaCs.Transfer;

namespace RdmaCs.Cli.Demo;

/// <summary>
/// Pre-copy, as a live migration does it: designate everything, let the writer run, end rounds one after the
/// other, then stop the writer ("pause the guest") and end one last round: its duration is the downtime.
/// </summary>
internal static class PreCopyLoop
{
    public sealed record Outcome(TimeSpan Total, TimeSpan Downtime, long FinalPassBytes, JsonArray Rounds);

    /// <param name="completeRound">Ends a round: flush, and whatever the transport adds (a fence).</param>
    public static Outcome Run(TransferEngine engine, RamBlock block, DirtyingWriter writer, int rounds,
        Action<long> completeRound, ProgressLine? progress)
    {
        var roundLog = new JsonArray();
        Stopwatch total = Stopwatch.StartNew();
        // Round 1 is the bulk copy: every page is designated, as QEMU's first pass over RAM does.
        engine.DesignateRange(0, 0, block.Length);
        writer.Start();
        for (int round = 1; round <= rounds; round++)
        {
            progress?.SetPhase($"round {round}/{rounds}");
            long before = engine.Statistics.BytesWritten;
            Stopwatch roundTime = Stopwatch.StartNew();
            completeRound(round);
            long bytes = engine.Statistics.BytesWritten - before;
            roundLog.Add(new JsonObject { ["round"] = round, ["bytes"] = bytes, ["ms"] = Report.Round(roundTime.Elapsed.TotalMilliseconds) });
            progress?.RoundDone(round, bytes, roundTime.Elapsed);
        }

        progress?.SetPhase("final pass (writer stopped)");
        writer.Stop();
        long finalBefore = engine.Statistics.BytesWritten;
        Stopwatch downtime = Stopwatch.StartNew();
        completeRound(rounds + 1);
        downtime.Stop();
        total.Stop();
        progress?.Finish();
        return new Outcome(total.Elapsed, downtime.Elapsed, engine.Statistics.BytesWritten - finalBefore, roundLog);
    }
}
