using System.Text.Json.Nodes;
using RdmaCs.Cli.Output;
using RdmaCs.Cli.Qemu;
using RdmaCs.Libvirt;
using RdmaCs.Qemu;

namespace RdmaCs.Cli.Bench;

/// <summary>
/// <c>rdmacs bench libvirt</c>: the page-writer guest as a libvirt domain, migrated peer to peer with <c>virsh migrate</c>
/// between two libvirt hosts on this machine (libvirtd in mount namespaces), over rdma-cs and over libvirt's tcp (libvirt
/// connects and hands QEMU the socket), alternated, in one run; the median run of each is reported, with libvirt's own
/// figures (<c>domjobinfo --completed</c>). The destination's pages are checked whole; comparing it byte for byte with
/// the source (as the tests do) would hold the source at the switchover and count that as downtime.
/// </summary>
internal static class LibvirtBenchmark
{
    public sealed record Settings(long MemoryBytes, long BudgetBytes, string Provider, GuestLoad Load, int Repeat, bool Json);

    private static readonly string[] Transports = ["rdma-cs", "tcp"];

    private sealed record Measurement(string Transport, bool Completed, long TimeMs, long DowntimeMs, long VirshMs, long MemoryBytes, long PeakLockedBytes, int TornPages, string Error)
    {
        /// <summary>At most the page the guest was writing when it stopped is torn; more means a page was lost.</summary>
        public bool PagesWhole => TornPages <= 1;

        public JsonObject ToJson() => new()
        {
            ["completed"] = Completed,
            ["time_ms"] = TimeMs,
            ["downtime_ms"] = DowntimeMs,
            ["virsh_ms"] = VirshMs,
            ["memory_processed_bytes"] = MemoryBytes,
            ["peak_pinned_bytes"] = PeakLockedBytes,
            ["pages_whole"] = PagesWhole,
        };
    }

    public static int Run(Settings settings)
    {
        if (!QemuBuild.EnsureLibvirt("bench libvirt"))
        {
            return 1;
        }
        HostMemory.WarmUp(4 * settings.MemoryBytes);
        Console.Error.WriteLine("rdmacs bench libvirt: starting two libvirt hosts...");
        using LibvirtHost source = LibvirtHost.Start("bench-source", 0x5a);
        using LibvirtHost destination = LibvirtHost.Start("bench-destination", 0x5b);
        var runs = Transports.ToDictionary(t => t, _ => new List<Measurement>());
        for (int i = 0; i < settings.Repeat; i++)
        {
            // Each repetition starts with another transport, so that none always goes first.
            foreach (string transport in Transports.Skip(i % Transports.Length).Concat(Transports.Take(i % Transports.Length)))
            {
                Console.Error.WriteLine($"rdmacs bench libvirt: {transport} ({i + 1}/{settings.Repeat})...");
                Measurement run = Migrate(source, destination, settings, transport, new PageWriterDomain($"bench-{transport}-{i}", settings.MemoryBytes, settings.Load));
                Console.Error.WriteLine(run.Completed
                    ? $"  {run.TimeMs} ms (virsh {run.VirshMs} ms), downtime {run.DowntimeMs} ms, peak VmLck {run.PeakLockedBytes >> 20} MiB, {(run.PagesWhole ? "pages whole" : $"{run.TornPages} TORN PAGES")}"
                    : $"  failed: {run.Error}");
                runs[transport].Add(run);
            }
        }

        Dictionary<string, Measurement> median = runs.ToDictionary(r => r.Key, r => r.Value.OrderBy(run => run.Completed ? run.TimeMs : long.MaxValue).ElementAt(r.Value.Count / 2));
        bool verified = runs.Values.SelectMany(r => r).All(r => r.Completed && r.PagesWhole);
        var json = new JsonObject
        {
            ["pages_whole"] = verified,
            ["memory_bytes"] = settings.MemoryBytes,
            ["budget_bytes"] = settings.BudgetBytes,
            ["load"] = settings.Load.ToString(),
            ["repeat"] = settings.Repeat,
        };
        foreach (string transport in Transports)
        {
            JsonObject figures = median[transport].ToJson();
            figures["time_ms_all"] = new JsonArray([.. runs[transport].Select(r => (JsonNode)r.TimeMs)]);
            json[transport.Replace('-', '_')] = figures;
        }
        json["rdma_cs_vs_tcp_time"] = Report.Ratio(median["rdma-cs"].TimeMs, median["tcp"].TimeMs);
        json["rdma_cs_vs_tcp_downtime"] = Report.Ratio(median["rdma-cs"].DowntimeMs, median["tcp"].DowntimeMs);
        json["peak_pinned_within_budget"] = runs["rdma-cs"].All(r => r.PeakLockedBytes <= settings.BudgetBytes);

        if (settings.Json)
        {
            Report.PrintJson(json);
        }
        else
        {
            foreach (string transport in Transports)
            {
                Measurement r = median[transport];
                Report.Line(transport, $"{r.TimeMs} ms ({r.VirshMs} ms of virsh), {r.DowntimeMs} ms downtime, peak VmLck {r.PeakLockedBytes >> 20} MiB, {(r.PagesWhole ? "pages whole" : "TORN PAGES")}");
            }
            Report.Line("rdma_cs_vs_tcp_time", $"{json["rdma_cs_vs_tcp_time"]}");
            Report.Line("rdma_cs_vs_tcp_downtime", $"{json["rdma_cs_vs_tcp_downtime"]}");
        }
        return verified ? 0 : 1;
    }

    private static Measurement Migrate(LibvirtHost source, LibvirtHost destination, Settings settings, string transport, PageWriterDomain domain)
    {
        try
        {
            source.StartDomain(domain);
            Thread.Sleep(1000); // let the guest boot and start rewriting its pages
            string[] rdmaCs = transport == "rdma-cs" ? ["--rdma-cs-budget", $"{settings.BudgetBytes >> 10}K", "--rdma-cs-provider", settings.Provider] : [];
            VirshMigrationOutcome outcome = VirshMigration.Run(source, domain,
                ["--live", "--p2p", "--suspend", "--listen-address", "127.0.0.1", "--transport", transport,
                 "--migrateuri", $"127.0.0.1:{MigrationSettings.FreePort()}", .. rdmaCs, domain.Name, destination.Uri],
                TimeSpan.FromMinutes(5), captureSourceMemory: false);
            if (!outcome.Virsh.Succeeded)
            {
                return new Measurement(transport, false, 0, 0, (long)outcome.Elapsed.TotalMilliseconds, 0, outcome.PeakLockedBytes, 0, outcome.Virsh.Error.Trim());
            }
            DomainJobInfo completed = DomainJobInfo.Parse(source.VirshOrThrow("domjobinfo", domain.Name, "--completed"));
            int torn;
            using (GuestMonitor arrived = destination.Monitor(domain))
            {
                byte[] after = arrived.ReadMemory();
                torn = GuestMemory.FirstGeneration(after) == 0 ? int.MaxValue : GuestMemory.TornPages(after, domain.Load);
            }
            return new Measurement(transport, true, completed.Milliseconds("Time elapsed"), completed.Milliseconds("Total downtime"),
                (long)outcome.Elapsed.TotalMilliseconds, completed.MemoryProcessedBytes, outcome.PeakLockedBytes, torn, "");
        }
        finally
        {
            foreach (LibvirtHost host in new[] { source, destination })
            {
                host.Virsh("destroy", domain.Name);
                host.Virsh("undefine", domain.Name);
            }
        }
    }
}
