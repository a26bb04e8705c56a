using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using RdmaCs.Statistics;

namespace RdmaCs.Cli.Output;

/// <summary>How every command prints figures: one JSON shape for machines, aligned lines for people.</summary>
internal static class Report
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static void PrintJson(JsonObject result) => Console.Out.WriteLine(result.ToJsonString(Indented));

    /// <summary>The engine's statistics as JSON fields (snake_case, bytes and milliseconds).</summary>
    public static JsonObject ToJson(EngineStatistics statistics) => new()
    {
        ["budget_bytes"] = statistics.BudgetBytes,
        ["pinned_bytes"] = statistics.PinnedBytes,
        ["peak_pinned_bytes"] = statistics.PeakPinnedBytes,
        ["registrations"] = statistics.Registrations,
        ["deregistrations"] = statistics.Deregistrations,
        ["registered_bytes"] = statistics.RegisteredBytes,
        ["cache_hits"] = statistics.CacheHits,
        ["evictions"] = statistics.Evictions,
        ["blocks_written"] = statistics.BlocksWritten,
        ["bytes_written"] = statistics.BytesWritten,
        ["designated_pages"] = statistics.DesignatedPages,
        ["writes_in_flight"] = statistics.WritesInFlight,
        ["budget_wait_ms"] = Round(statistics.BudgetWait.TotalMilliseconds),
        ["flushes"] = statistics.Flushes,
        ["failure"] = statistics.Failure,
    };

    /// <summary>Rounds a figure to 3 significant decimals so JSON stays readable.</summary>
    /// <summary><paramref name="part"/> / <paramref name="whole"/>, rounded; null when the whole is 0.</summary>
    public static double? Ratio(long part, long whole) => whole == 0 ? null : Round((double)part / whole);

    public static double Round(double value) => Math.Round(value, 3);

    public static string Gbps(double bytes, TimeSpan time) =>
        (bytes / time.TotalSeconds / 1e9).ToString("0.00", CultureInfo.InvariantCulture) + " GB/s";

    public static void Line(string label, string value) => Console.Out.WriteLine($"  {label,-26} {value}");
}
