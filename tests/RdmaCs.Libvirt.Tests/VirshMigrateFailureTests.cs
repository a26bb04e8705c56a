using System.Text.Json.Nodes;
using RdmaCs.Memory;
using RdmaCs.Qemu;

namespace RdmaCs.Libvirt.Tests;

/// <summary>
/// rdma-cs migrations through libvirt that must fail, cleanly: a QEMU without rdma-cs on either side, a destination
/// that does not accept the migration's token, and virsh arguments that make no migration URI. Each time virsh says
/// why, the domain keeps running on the source (its guest still rewriting pages), nothing is left pinned there, and
/// the destination host has no domain left.
/// </summary>
[Collection(LibvirtHostsCollection.Name)]
public sealed class VirshMigrateFailureTests(LibvirtHosts hosts)
{
    private const long GuestBytes = 128L << 20;
    private static readonly TimeSpan MigrationTimeout = TimeSpan.FromMinutes(2);

    [Fact]
    public void A_destination_whose_qemu_lacks_rdma_cs_is_refused_before_anything_moves()
    {
        var domain = new PageWriterDomain("to-stock", GuestBytes, GuestLoad.Busy);
        string error = MigrateExpectingFailure(hosts.A, hosts.Stock, domain,
            ["--p2p", "--transport", "rdma-cs", "--migrateuri", $"127.0.0.1:{MigrationSettings.FreePort()}"]);
        Assert.Contains("incoming rdma-cs migration is not supported with this QEMU binary", error);
    }

    [Fact]
    public void A_source_whose_qemu_lacks_rdma_cs_is_refused_before_anything_moves()
    {
        var domain = new PageWriterDomain("from-stock", GuestBytes, GuestLoad.Busy);
        string error = MigrateExpectingFailure(hosts.Stock, hosts.A, domain,
            ["--p2p", "--transport", "rdma-cs", "--migrateuri", $"127.0.0.1:{MigrationSettings.FreePort()}"]);
        Assert.Contains("outgoing rdma-cs migration is not supported with this QEMU binary", error);
    }

    /// <summary>
    /// The source reaches a destination that expects another token: a QEMU listening on 127.0.0.2 (a wrong address in
    /// the migration URI) while libvirt's destination listens on 127.0.0.1. libvirt carries one token to both of its
    /// QEMUs, so a wrong token means the source reached something other than the destination libvirt prepared.
    /// </summary>
    [Fact]
    public void A_destination_with_another_token_refuses_the_source_and_the_guest_runs_on()
    {
        var domain = new PageWriterDomain("wrong-token", GuestBytes, GuestLoad.Busy);
        int port = MigrationSettings.FreePort();
        using QemuMachine impostor = QemuMachine.StartDestination("impostor", GuestBytes);
        impostor.Qmp.Execute("migrate-set-parameters", new JsonObject { ["rdma-cs-token"] = "not-this-migrations-token" });
        impostor.Qmp.Execute("migrate-incoming", new JsonObject { ["uri"] = $"rdma-cs:127.0.0.2:{port}" });

        string error = MigrateExpectingFailure(hosts.A, hosts.B, domain,
            ["--p2p", "--transport", "rdma-cs", "--migrateuri", $"127.0.0.2:{port}", "--rdma-cs-budget", "16"]);

        Assert.Contains("the peer reported: wrong token", error);
        Assert.Contains("wrong token", impostor.LogText);
    }

    /// <summary>
    /// <c>virsh domjobabort</c> on the source while pages are moving (bandwidth held to 32 MiB/s so that there is
    /// time): the migration ends as cancelled by the client, and the guest runs on, unpinned.
    /// </summary>
    [Fact]
    public void A_migration_aborted_during_the_bulk_phase_leaves_the_guest_running_unpinned()
    {
        var domain = new PageWriterDomain("aborted", GuestBytes, GuestLoad.AllMemory);
        bool aborted = false;
        string error = MigrateExpectingFailure(hosts.A, hosts.B, domain,
            ["--p2p", "--transport", "rdma-cs", "--migrateuri", $"127.0.0.1:{MigrationSettings.FreePort()}", "--rdma-cs-budget", "8", "--bandwidth", "32"],
            progress =>
            {
                if (!aborted && progress.JobType == "Unbounded" && progress.MemoryProcessedBytes > 0)
                {
                    hosts.A.VirshOrThrow("domjobabort", domain.Name);
                    aborted = true;
                }
            });
        Assert.True(aborted, "the migration never showed progress to abort");
        Assert.Contains("canceled by client", error);
    }

    /// <summary>
    /// A budget above what an unprivileged QEMU may lock: libvirt raises QEMU's RLIMIT_MEMLOCK when it may (libvirtd
    /// with CAP_SYS_RESOURCE) and the migration goes on; where it may not, as on these machines, the migration fails
    /// before anything starts, saying which limit and what to change.
    /// </summary>
    [Fact]
    public void A_budget_above_an_unprivileged_qemus_locked_memory_limit_is_raised_or_a_clear_error()
    {
        var domain = new PageWriterDomain("over-limit", GuestBytes, GuestLoad.Busy);
        long? limit = ProcessLimits.LockedMemoryLimit(); // what libvirtd, and the QEMUs it starts, inherit
        long budget = limit is null ? 16L << 20 : limit.Value * 2;
        string[] arguments = ["--p2p", "--transport", "rdma-cs", "--migrateuri", $"127.0.0.1:{MigrationSettings.FreePort()}", "--rdma-cs-budget", $"{budget >> 10}K"];
        if (limit is null || ProcessLimits.CanRaiseLimits)
        {
            hosts.Remove(domain.Name);
            try
            {
                hosts.Unprivileged.StartDomain(domain);
                VirshMigrationOutcome outcome = VirshMigration.Run(hosts.Unprivileged, domain,
                    ["--live", "--listen-address", "127.0.0.1", .. arguments, domain.Name, hosts.B.Uri], MigrationTimeout);
                Assert.True(outcome.Virsh.Succeeded, $"libvirtd may raise the limit, yet: {outcome.Virsh}");
                Assert.InRange(outcome.PeakLockedBytes, 1, budget);
            }
            finally
            {
                hosts.Remove(domain.Name);
            }
            return;
        }

        string error = MigrateExpectingFailure(hosts.Unprivileged, hosts.B, domain, arguments);
        Assert.Contains($"rdma-cs migration pins up to {budget} bytes (its budget) but QEMU may lock only {limit.Value}", error);
        Assert.Contains("give libvirtd CAP_SYS_RESOURCE, raise its locked-memory limit, or lower the rdma-cs budget", error);
    }

    [Fact]
    public void Virsh_says_when_transport_has_no_address_or_conflicts_with_the_migration_uri()
    {
        var domain = new PageWriterDomain("bad-arguments", GuestBytes, GuestLoad.Busy);
        hosts.Remove(domain.Name);
        try
        {
            hosts.A.StartDomain(domain);

            // The destination URI is a UNIX socket: no host to build rdma-cs://HOST from.
            VirshResult noHost = hosts.A.Virsh("migrate", "--live", "--p2p", "--transport", "rdma-cs", domain.Name, hosts.B.Uri);
            Assert.False(noHost.Succeeded);
            Assert.Contains("--transport rdma-cs needs the destination's address", noHost.Error);
            Assert.Contains("give --migrateuri HOST[:PORT]", noHost.Error);

            VirshResult conflict = hosts.A.Virsh("migrate", "--live", "--p2p", "--transport", "rdma-cs", "--migrateuri", "tcp://127.0.0.1:49999",
                domain.Name, hosts.B.Uri);
            Assert.False(conflict.Succeeded);
            Assert.Contains("--migrateuri 'tcp://127.0.0.1:49999' conflicts with --transport rdma-cs", conflict.Error);

            Assert.Equal("running", hosts.A.DomainState(domain.Name));
            Assert.Null(hosts.B.DomainState(domain.Name));
        }
        finally
        {
            hosts.Remove(domain.Name);
        }
    }

    [Fact]
    public void The_host_capabilities_list_rdma_cs_and_virsh_documents_its_options()
    {
        Assert.Contains("<uri_transport>rdma-cs</uri_transport>", hosts.A.VirshOrThrow("capabilities"));
        string help = hosts.A.VirshOrThrow("help", "migrate");
        foreach (string option in new[] { "--transport", "--rdma-cs-budget", "--rdma-cs-max-block", "--rdma-cs-provider", "--rdma-cs-token", "--rdma-cs-control-port" })
        {
            Assert.Contains(option, help);
        }
    }

    /// <summary>
    /// Starts <paramref name="domain"/> on <paramref name="source"/>, migrates it to <paramref name="destination"/>
    /// expecting failure, checks that nothing was lost, and returns virsh's error.
    /// </summary>
    private string MigrateExpectingFailure(LibvirtHost source, LibvirtHost destination, PageWriterDomain domain, string[] transportArguments,
        Action<DomainJobInfo>? onProgress = null)
    {
        hosts.Remove(domain.Name);
        try
        {
            source.StartDomain(domain);
            Thread.Sleep(500);

            VirshMigrationOutcome outcome = VirshMigration.Run(source, domain,
                ["--live", "--listen-address", "127.0.0.1", .. transportArguments, domain.Name, destination.Uri], MigrationTimeout, onProgress);

            Assert.False(outcome.Virsh.Succeeded, $"the migration succeeded: {outcome.Virsh}");
            Assert.Equal("running", source.DomainState(domain.Name));
            Assert.Null(destination.DomainState(domain.Name));
            int pid = source.QemuPid(domain.Name) ?? throw new InvalidOperationException("the source QEMU is gone");
            Assert.Equal(0, ProcessMemoryStatus.ReadLockedBytes(pid));
            using (GuestMonitor guest = source.Monitor(domain))
            {
                Assert.True(guest.GuestIsWorking(TimeSpan.FromSeconds(10)), "the source guest stopped rewriting its pages");
            }
            return outcome.Virsh.Error;
        }
        finally
        {
            hosts.Remove(domain.Name);
        }
    }
}
