using RdmaCs.Memory;
using RdmaCs.Qemu;

namespace RdmaCs.Libvirt.Tests;

/// <summary>
/// <c>virsh migrate --live --transport rdma-cs</c> between two libvirt hosts, peer to peer and driven by the client,
/// and <c>--transport tcp</c> beside it: the guest keeps rewriting its RAM during the migration, the destination is
/// left paused, and its memory equals, byte for byte, the source's when the source stopped for the switchover; the
/// VmLck of each QEMU, sampled every 2 ms, never exceeds the budget libvirt gave both; <c>virsh domjobinfo</c> shows progress.
/// </summary>
[Collection(LibvirtHostsCollection.Name)]
public sealed class VirshMigrateTests(LibvirtHosts hosts)
{
    private const long GuestBytes = 256L << 20;
    private const long BudgetBytes = 16L << 20;
    private static readonly TimeSpan MigrationTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public void Peer_to_peer_over_rdma_cs_arrives_equal_with_pinned_memory_within_budget()
    {
        var domain = new PageWriterDomain("p2p-rdma-cs", GuestBytes, GuestLoad.AllMemory);
        int port = MigrationSettings.FreePort();
        MigrateAndVerify(domain, ["--p2p", "--transport", "rdma-cs", "--migrateuri", $"127.0.0.1:{port}", "--rdma-cs-budget", $"{BudgetBytes >> 20}"]);

        // QEMU connected by itself (libvirt passes rdma-cs an address, not a connected fd), with the budget and a token.
        string sourceLog = File.ReadAllText(Path.Combine(hosts.A.Folder, "log/libvirtd.log"));
        Assert.Contains($"\"uri\":\"rdma-cs:127.0.0.1:{port}\"", sourceLog);
        Assert.Contains($"\"rdma-cs-budget\":{BudgetBytes}", sourceLog);
        Assert.Matches("\"rdma-cs-token\":\"[0-9a-f]{32}\"", sourceLog);
    }

    /// <summary>Also without --listen-address: the destination listens on libvirt's default, every address ([::]).</summary>
    [Fact]
    public void Client_driven_over_rdma_cs_arrives_equal_with_pinned_memory_within_budget()
    {
        var domain = new PageWriterDomain("client-rdma-cs", GuestBytes, GuestLoad.Busy);
        MigrateAndVerify(domain, ["--transport", "rdma-cs", "--migrateuri", $"127.0.0.1:{MigrationSettings.FreePort()}",
            "--rdma-cs-budget", $"{BudgetBytes >> 20}M", "--rdma-cs-provider", "tcp"], listenAddress: null);
    }

    [Fact]
    public void The_tcp_transport_still_migrates()
    {
        var domain = new PageWriterDomain("p2p-tcp", GuestBytes, GuestLoad.Busy);
        int port = MigrationSettings.FreePort();
        MigrateAndVerify(domain, ["--p2p", "--transport", "tcp", "--migrateuri", $"127.0.0.1:{port}"], budget: null);
        Assert.Contains($"\"uri\":\"tcp:127.0.0.1:{port}\"", File.ReadAllText(Path.Combine(hosts.B.Folder, "log/libvirtd.log")));
    }

    /// <summary>
    /// A QEMU without CAP_IPC_LOCK (running as libvirt-qemu) whose RLIMIT_MEMLOCK already covers the budget: libvirt
    /// leaves the limit alone (it raises it only when it is lower) and the plugin pins within it.
    /// </summary>
    [Fact]
    public void An_unprivileged_qemu_whose_locked_memory_limit_covers_the_budget_migrates_within_it()
    {
        var domain = new PageWriterDomain("unprivileged", GuestBytes, GuestLoad.Busy);
        long budget = Math.Min(ProcessLimits.LockedMemoryLimit() / 2 ?? BudgetBytes, BudgetBytes);
        MigrateAndVerify(domain, ["--p2p", "--transport", "rdma-cs", "--migrateuri", $"127.0.0.1:{MigrationSettings.FreePort()}",
            "--rdma-cs-budget", $"{budget >> 10}K"], budget, source: hosts.Unprivileged);
    }

    /// <summary>
    /// The Linux test guest (Debian's kernel, its init checking its own memory) as a domain booted from its kernel, migrated
    /// live over rdma-cs and resumed on the destination: its check of every page stays clean there for two whole sweeps.
    /// </summary>
    [Fact]
    public void A_Linux_guest_migrates_over_rdma_cs_and_its_own_check_stays_clean_on_the_destination()
    {
        var domain = new LinuxDomain("linux-rdma-cs", (128L << 20) + LinuxGuest.KernelBytes, new LinuxGuest(128L << 20));
        TimeSpan sweeps = TimeSpan.FromMinutes(3);
        hosts.Remove(domain.Name);
        try
        {
            hosts.A.StartDomain(domain);
            GuestReport? booted = LinuxGuest.WaitForSweeps(hosts.A.ConsoleLog(domain.Name), 1, sweeps, () => hosts.A.QemuPid(domain.Name) is null);
            Assert.True(booted is { Corruption.Count: 0 }, $"the guest did not boot and check its memory:\n{LinuxGuest.Report(hosts.A.ConsoleLog(domain.Name)).Tail}\n{hosts.A.QemuLog(domain.Name)}");

            VirshMigrationOutcome outcome = VirshMigration.Run(hosts.A, domain,
                ["--live", "--p2p", "--listen-address", "127.0.0.1", "--transport", "rdma-cs", "--migrateuri", $"127.0.0.1:{MigrationSettings.FreePort()}",
                    "--rdma-cs-budget", $"{BudgetBytes >> 20}", domain.Name, hosts.B.Uri],
                MigrationTimeout, captureSourceMemory: false);

            Assert.True(outcome.Virsh.Succeeded, $"virsh migrate: {outcome.Virsh}\nsource:\n{hosts.A.DaemonLog()}\ndestination:\n{hosts.B.DaemonLog()}\n{hosts.B.QemuLog(domain.Name)}");
            Assert.Equal("running", hosts.B.DomainState(domain.Name));
            Assert.InRange(outcome.PeakLockedBytes, 1, BudgetBytes);
            GuestReport? there = LinuxGuest.WaitForSweeps(hosts.B.ConsoleLog(domain.Name), 2, sweeps, () => hosts.B.QemuPid(domain.Name) is null);
            Assert.True(there is not null, $"the guest did not finish two sweeps on the destination:\n{LinuxGuest.Report(hosts.B.ConsoleLog(domain.Name)).Tail}");
            Assert.True(there.Corruption.Count == 0, $"the guest found its memory corrupted:\n{string.Join("\n", there.Corruption)}");
        }
        finally
        {
            hosts.Remove(domain.Name);
        }
    }

    /// <summary>Migrates <paramref name="domain"/> from A (or <paramref name="source"/>) to B, destination left paused, and checks all of it.</summary>
    private void MigrateAndVerify(PageWriterDomain domain, string[] transportArguments, long? budget = BudgetBytes, string? listenAddress = "127.0.0.1",
        LibvirtHost? source = null)
    {
        source ??= hosts.A;
        hosts.Remove(domain.Name);
        try
        {
            source.StartDomain(domain);
            Thread.Sleep(1000); // let the guest boot and start rewriting its pages

            VirshMigrationOutcome outcome = VirshMigration.Run(source, domain,
                ["--live", "--suspend", .. listenAddress is null ? [] : new[] { "--listen-address", listenAddress }, .. transportArguments, domain.Name, hosts.B.Uri],
                MigrationTimeout, destination: hosts.B);

            Assert.True(outcome.Virsh.Succeeded, $"virsh migrate: {outcome.Virsh}\nsource:\n{source.DaemonLog()}\ndestination:\n{hosts.B.DaemonLog()}\n{hosts.B.QemuLog(domain.Name)}");
            Assert.Equal("shut off", source.DomainState(domain.Name));
            Assert.Equal("paused", hosts.B.DomainState(domain.Name));

            // Pinned memory, by the kernel's count, on the source while it ran.
            Assert.True(outcome.LockedSamples > 10, $"VmLck sampled only {outcome.LockedSamples} times");
            if (budget is not null)
            {
                Assert.InRange(outcome.PeakLockedBytes, 1, budget.Value);
                // libvirt gave the destination the budget too: its windows of guest RAM stayed within it.
                Assert.True(outcome.DestinationLockedSamples > 10, $"the destination's VmLck sampled only {outcome.DestinationLockedSamples} times");
                Assert.InRange(outcome.DestinationPeakLockedBytes, 1, budget.Value);
            }

            // domjobinfo showed the migration moving, and its completed record the whole guest.
            Assert.Contains(outcome.Progress, info => info.JobType == "Unbounded" && info.MemoryProcessedBytes > 0);
            DomainJobInfo completed = DomainJobInfo.Parse(source.VirshOrThrow("domjobinfo", domain.Name, "--completed"));
            Assert.Equal("Completed", completed.JobType);
            Assert.True(completed.MemoryProcessedBytes >= GuestBytes / 2, $"only {completed.MemoryProcessedBytes} bytes processed: {completed}");

            // The destination's memory is the source's at the switchover, byte for byte; every page is whole.
            Assert.NotNull(outcome.SourceMemory);
            using GuestMonitor destination = hosts.B.Monitor(domain);
            byte[] after = destination.ReadMemory();
            long first = GuestMemory.FirstDifference(outcome.SourceMemory, after);
            Assert.True(first < 0, $"guest memory differs first at 0x{first:x}");
            Assert.InRange(GuestMemory.TornPages(after, domain.Load), 0, 1);
            Assert.NotEqual(0u, GuestMemory.FirstGeneration(after)); // the guest did run
            int destinationPid = hosts.B.QemuPid(domain.Name)!.Value;
            Assert.Equal(0, ProcessMemoryStatus.ReadLockedBytes(destinationPid)); // nothing left pinned there either
        }
        finally
        {
            hosts.Remove(domain.Name);
        }
    }
}
