using System.Text.Json.Nodes;
using RdmaCs.Cli.Output;
using RdmaCs.Configuration;
using RdmaCs.Qemu;

namespace RdmaCs.Cli.Qemu;

/// <summary>
/// <c>rdmacs demo</c>, the main job: a test guest (the page writer, or Linux) live-migrated between two QEMU processes over rdma-cs
/// with a live display, its memory verified, and the same guest migrated with QEMU's own <c>tcp:</c> beside it.
/// </summary>
internal static class QemuDemo
{
    public sealed record Settings(long MemoryBytes, long BudgetBytes, string Provider, string LoadName, GuestImage Guest, bool Json);

    public static int Run(Settings settings)
    {
        if (!QemuBuild.Ensure("demo", settings.Guest))
        {
            return 1;
        }
        var migration = new GuestMigration.Settings(settings.MemoryBytes, settings.BudgetBytes, settings.Provider, settings.Guest,
            WarmUp: TimeSpan.FromSeconds(1), Timeout: TimeSpan.FromMinutes(5));
        if (!settings.Json)
        {
            Console.Out.WriteLine(
                $"rdmacs demo: a {ByteSize.FormatApproximate(settings.MemoryBytes)} guest {settings.Guest}, live-migrated " +
                $"between two QEMU processes (TCG) on this host, over rdma-cs (budget {ByteSize.FormatApproximate(settings.BudgetBytes)}, " +
                $"provider {settings.Provider}) and then over QEMU's tcp: for comparison.");
        }
        HostMemory.WarmUp(4 * settings.MemoryBytes);
        GuestMigration.Result rdmaCs = Migrate(migration, MigrationTransport.RdmaCs, settings.Json);
        GuestMigration.Result tcp = Migrate(migration, MigrationTransport.Tcp, settings.Json);
        bool verified = rdmaCs.Verified && tcp.Verified;

        if (settings.Json)
        {
            Report.PrintJson(new JsonObject
            {
                ["verified"] = verified,
                ["memory_bytes"] = settings.MemoryBytes,
                ["budget_bytes"] = settings.BudgetBytes,
                ["load"] = settings.LoadName,
                ["rdma_cs"] = rdmaCs.ToJson(),
                ["tcp"] = tcp.ToJson(),
            });
        }
        else
        {
            PrintSummary(settings, rdmaCs, tcp);
        }
        return verified ? 0 : 1;
    }

    private static GuestMigration.Result Migrate(GuestMigration.Settings settings, MigrationTransport transport, bool json)
    {
        var display = json ? null : new MigrationDisplay(GuestMigration.Name(transport));
        GuestMigration.Result result = GuestMigration.Run(settings, transport, display is null ? null : display.Show);
        display?.Finish();
        if (!json)
        {
            Console.Out.WriteLine($"  {result.Name,-8} {(result.Verified ? "verified" : "FAILED")}: {result.Verification}");
        }
        return result;
    }

    private static void PrintSummary(Settings settings, GuestMigration.Result rdmaCs, GuestMigration.Result tcp)
    {
        Console.Out.WriteLine();
        Console.Out.WriteLine($"  {"",-22} {"rdma-cs",14} {"tcp:",14}");
        Row("total time", r => $"{r.Outcome.TotalMs} ms");
        Row("downtime", r => $"{r.Outcome.DowntimeMs} ms");
        Row("transferred (QEMU)", r => ByteSize.FormatApproximate(r.Outcome.TransferredBytes));
        Row("rounds", r => $"{r.Outcome.Rounds}");
        Row("peak pinned (VmLck)", r => ByteSize.FormatApproximate(r.Outcome.PeakLockedBytes));
        Row("pinned afterwards", r => ByteSize.FormatApproximate(r.Outcome.LockedAfterBytes));
        Row("memory verified", r => r.Verified ? "yes" : "NO");
        Console.Out.WriteLine($"  budget {ByteSize.FormatApproximate(settings.BudgetBytes)}; rdma-cs took {Ratio(rdmaCs.Outcome.TotalMs, tcp.Outcome.TotalMs)} of tcp:'s time.");
        if (rdmaCs.Outcome.RdmaCs is { } stats)
        {
            Console.Out.WriteLine(
                $"  rdma-cs: {stats["registrations"]} registrations, {stats["cache-hits"]} cache hits, {stats["pages"]} pages handed over " +
                $"({stats["zero-pages"]} zero), {ByteSize.FormatApproximate((long)stats["transferred"]!)} RDMA-written.");
        }

        void Row(string label, Func<GuestMigration.Result, string> value) =>
            Console.Out.WriteLine($"  {label,-22} {value(rdmaCs),14} {value(tcp),14}");
    }

    private static string Ratio(long part, long whole) => whole == 0 ? "n/a" : $"{(double)part / whole:0.00}x";
}
