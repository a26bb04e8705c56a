using System.Text.Json.Nodes;
using RdmaCs.Cli.Output;
using RdmaCs.Cli.Qemu;
using RdmaCs.Qemu;

namespace RdmaCs.Cli.Bench;

/// <summary>
/// <c>rdmacs bench qemu</c>: a test guest (the page writer, or Linux) migrated between two QEMU processes with rdma-cs, QEMU's
/// <c>tcp:</c>, and QEMU's multifd over tcp (4 channels), alternated, in one run; the median run of each is reported.
/// </summary>
internal static class QemuBenchmark
{
    public sealed record Settings(long MemoryBytes, long BudgetBytes, string Provider, string LoadName, GuestImage Guest, int Repeat, bool Json, FileInfo? Plot);

    private static readonly MigrationTransport[] Transports = [MigrationTransport.RdmaCs, MigrationTransport.Tcp, MigrationTransport.Multifd];

    public static int Run(Settings settings)
    {
        if (!QemuBuild.Ensure("bench qemu", settings.Guest))
        {
            return 1;
        }
        var migration = new GuestMigration.Settings(settings.MemoryBytes, settings.BudgetBytes, settings.Provider, settings.Guest,
            WarmUp: TimeSpan.FromSeconds(1), Timeout: TimeSpan.FromMinutes(5));
        var runs = Transports.ToDictionary(t => t, _ => new List<GuestMigration.Result>());
        HostMemory.WarmUp(4 * settings.MemoryBytes);
        for (int i = 0; i < settings.Repeat; i++)
        {
            // Each repetition starts with another transport, so that none always goes first.
            foreach (MigrationTransport transport in Transports.Skip(i % Transports.Length).Concat(Transports.Take(i % Transports.Length)))
            {
                Console.Error.WriteLine($"rdmacs bench qemu: {GuestMigration.Name(transport)} ({i + 1}/{settings.Repeat})...");
                GuestMigration.Result result = GuestMigration.Run(migration, transport);
                Console.Error.WriteLine($"  {result.Outcome.Status}, {result.Outcome.TotalMs} ms, downtime {result.Outcome.DowntimeMs} ms; {result.Verification}");
                runs[transport].Add(result);
            }
        }

        Dictionary<MigrationTransport, GuestMigration.Result> median = runs.ToDictionary(r => r.Key, r => Median(r.Value));
        bool verified = runs.Values.SelectMany(r => r).All(r => r.Verified);
        long rdmaTime = median[MigrationTransport.RdmaCs].Outcome.TotalMs;
        var json = new JsonObject
        {
            ["verified"] = verified,
            ["memory_bytes"] = settings.MemoryBytes,
            ["budget_bytes"] = settings.BudgetBytes,
            ["load"] = settings.LoadName,
            ["guest"] = settings.Guest.ToString(),
            ["downtime_limit_ms"] = new MigrationSettings { Transport = MigrationTransport.RdmaCs, Port = 0 }.DowntimeLimitMs,
            ["repeat"] = settings.Repeat,
        };
        foreach (MigrationTransport transport in Transports)
        {
            JsonObject figures = median[transport].ToJson();
            figures["total_ms_all"] = new JsonArray([.. runs[transport].Select(r => (JsonNode)r.Outcome.TotalMs)]);
            json[GuestMigration.Name(transport)] = figures;
        }
        json["rdma_cs_vs_tcp_time"] = Report.Ratio(rdmaTime, median[MigrationTransport.Tcp].Outcome.TotalMs);
        json["rdma_cs_vs_multifd_time"] = Report.Ratio(rdmaTime, median[MigrationTransport.Multifd].Outcome.TotalMs);
        json["rdma_cs_vs_tcp_downtime"] = Report.Ratio(median[MigrationTransport.RdmaCs].Outcome.DowntimeMs, median[MigrationTransport.Tcp].Outcome.DowntimeMs);
        json["peak_pinned_within_budget"] = runs[MigrationTransport.RdmaCs].All(r => r.Outcome.PeakLockedBytes <= settings.BudgetBytes);

        if (settings.Plot is { } plot)
        {
            QemuPlot.Draw(plot.FullName, [.. Transports.Select(t => median[t])], settings.BudgetBytes);
            Console.Error.WriteLine($"rdmacs bench qemu: plot written to {plot.FullName}");
        }
        if (settings.Json)
        {
            Report.PrintJson(json);
        }
        else
        {
            foreach (MigrationTransport transport in Transports)
            {
                GuestMigration.Result r = median[transport];
                Report.Line(r.Name, $"{r.Outcome.TotalMs} ms total, {r.Outcome.DowntimeMs} ms downtime, peak VmLck {r.Outcome.PeakLockedBytes >> 20} MiB, {(r.Verified ? "verified" : "NOT verified")}");
            }
            Report.Line("rdma_cs_vs_tcp_time", $"{json["rdma_cs_vs_tcp_time"]}");
            Report.Line("rdma_cs_vs_multifd_time", $"{json["rdma_cs_vs_multifd_time"]}");
        }
        return verified ? 0 : 1;
    }

    private static GuestMigration.Result Median(List<GuestMigration.Result> results) =>
        results.OrderBy(r => r.Outcome.Completed ? r.Outcome.TotalMs : long.MaxValue).ElementAt(results.Count / 2);
}
