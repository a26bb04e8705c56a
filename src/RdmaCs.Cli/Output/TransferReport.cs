using System.Text.Json.Nodes;
using RdmaCs.Cli.Demo;
using RdmaCs.Configuration;
using RdmaCs.Statistics;

namespace RdmaCs.Cli.Output;

/// <summary>The summary of one live transfer, as JSON or as lines for people: the demo and send print the same.</summary>
internal static class TransferReport
{
    public sealed record Facts(
        bool Verified, string VerificationDetail, long SizeBytes, long BudgetBytes, PreCopyLoop.Outcome Outcome,
        EngineStatistics Statistics, long PeakLockedBytes, long LockedAfterBytes, long WriterRewrites, string Fabric);

    /// <summary>True when the transfer did what it must: verified, and the kernel saw no more locked than the budget.</summary>
    public static bool Succeeded(Facts facts) =>
        facts.Verified && facts.PeakLockedBytes <= facts.BudgetBytes && facts.LockedAfterBytes == 0;

    public static JsonObject ToJson(Facts facts) => new()
    {
        ["verified"] = facts.Verified,
        ["verification"] = facts.VerificationDetail,
        ["fabric"] = facts.Fabric,
        ["size_bytes"] = facts.SizeBytes,
        ["budget_bytes"] = facts.BudgetBytes,
        ["total_ms"] = Report.Round(facts.Outcome.Total.TotalMilliseconds),
        ["downtime_ms"] = Report.Round(facts.Outcome.Downtime.TotalMilliseconds),
        ["final_pass_bytes"] = facts.Outcome.FinalPassBytes,
        ["transferred_bytes"] = facts.Statistics.BytesWritten,
        ["peak_pinned_bytes"] = facts.Statistics.PeakPinnedBytes,
        ["peak_vmlck_bytes"] = facts.PeakLockedBytes,
        ["vmlck_after_bytes"] = facts.LockedAfterBytes,
        ["writer_rewrites"] = facts.WriterRewrites,
        ["rounds"] = facts.Outcome.Rounds.DeepClone(),
        ["engine"] = Report.ToJson(facts.Statistics),
    };

    public static void Print(Facts facts)
    {
        EngineStatistics s = facts.Statistics;
        Console.Out.WriteLine();
        Console.Out.WriteLine(facts.Verified ? $"Verified: {facts.VerificationDetail}." : $"NOT VERIFIED: {facts.VerificationDetail}");
        Report.Line("fabric", facts.Fabric);
        Report.Line("total time", $"{facts.Outcome.Total.TotalMilliseconds:0} ms");
        Report.Line("final pass (downtime)", $"{facts.Outcome.Downtime.TotalMilliseconds:0.0} ms, {ByteSize.FormatApproximate(facts.Outcome.FinalPassBytes)}");
        Report.Line("transferred", $"{ByteSize.FormatApproximate(s.BytesWritten)} in {s.BlocksWritten} writes ({Report.Gbps(s.BytesWritten, facts.Outcome.Total)})");
        Report.Line("budget", ByteSize.FormatApproximate(s.BudgetBytes));
        Report.Line("peak pinned (engine)", ByteSize.FormatApproximate(s.PeakPinnedBytes));
        Report.Line("peak VmLck (kernel)", $"{ByteSize.FormatApproximate(facts.PeakLockedBytes)}{(facts.PeakLockedBytes <= s.BudgetBytes ? "" : "  ABOVE BUDGET")}");
        Report.Line("VmLck after", ByteSize.FormatApproximate(facts.LockedAfterBytes));
        Report.Line("registrations", $"{s.Registrations} ({ByteSize.FormatApproximate(s.RegisteredBytes)}), {s.CacheHits} cache hits, {s.Evictions} evictions");
        Report.Line("waited for budget", $"{s.BudgetWait.TotalMilliseconds:0} ms");
    }
}
