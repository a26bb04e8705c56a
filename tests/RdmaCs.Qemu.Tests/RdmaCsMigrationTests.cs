using RdmaCs.Memory;

namespace RdmaCs.Qemu.Tests;

/// <summary>
/// A guest that keeps rewriting all of its RAM, live-migrated between two real QEMU processes over rdma-cs with a
/// small budget: the memories end equal byte for byte, every page is whole, every page went through the plugin,
/// and each QEMU's VmLck, sampled by the kernel's count, never exceeds the budget and returns to zero: the source's
/// blocks and the destination's windows of guest RAM alike.
/// </summary>
public sealed class RdmaCsMigrationTests
{
    private static int FreePort() => MigrationSettings.FreePort();

    private const long BudgetBytes = 16L << 20;

    /// <summary>The budget of the tests the kernel referees: 8 MiB, this machine's hard RLIMIT_MEMLOCK, which root without CAP_SYS_RESOURCE cannot raise.</summary>
    private const long KernelBudget = 8L << 20;
    private static readonly TimeSpan MigrationTimeout = TimeSpan.FromMinutes(3);

    [Theory]
    [InlineData(512L << 20)]
    [InlineData(1024L << 20)]
    public void A_live_guest_migrates_over_rdma_cs_with_equal_memory_and_pinned_memory_within_budget(long guestBytes) =>
        MigrateAndCheck(guestBytes, BudgetBytes, lockLimit: null);

    /// <summary>
    /// The providers that run here besides tcp's connected endpoints, both reliable-datagram (RDM): tcp under the ofi_rxm
    /// utility provider (the way verbs runs RDM) and shm (same-host migration, a QEMU upgrade: one copy, no socket). The
    /// kernel referees here too: both QEMUs without CAP_IPC_LOCK, RLIMIT_MEMLOCK at the budget.
    /// </summary>
    [Theory]
    [InlineData("tcp;ofi_rxm")]
    [InlineData("shm")]
    public void A_live_guest_migrates_over_each_RDM_provider_that_runs_here(string provider) =>
        MigrateAndCheck(512L << 20, KernelBudget, new KernelLockLimit(KernelBudget), provider);

    [Fact]
    public void The_kernel_bounds_each_QEMUs_locked_memory_to_the_budget_and_the_guest_migrates_within_it()
    {
        // Both QEMUs without CAP_IPC_LOCK and with RLIMIT_MEMLOCK at the budget: a byte pinned past it would fail in the
        // kernel, not only in the plugin's accounting.
        MigrateAndCheck(1024L << 20, KernelBudget, new KernelLockLimit(KernelBudget));
    }

    private static void MigrateAndCheck(long guestBytes, long budgetBytes, KernelLockLimit? lockLimit, string provider = "tcp")
    {
        using var destination = lockLimit is null
            ? QemuMachine.StartDestination("destination", guestBytes)
            : QemuMachine.StartDestination("destination", guestBytes, lockLimit);
        using var source = lockLimit is null
            ? QemuMachine.StartSource("source", guestBytes)
            : QemuMachine.StartSource("source", guestBytes, null, lockLimit);
        // Every page whole is checked below: let the guest write all of its RAM once first (under load, a 1 GiB guest
        // had not, and the firmware's tables left above its first sweep counted as torn pages).
        Assert.True(source.Monitor.WaitForFirstSweep(TimeSpan.FromMinutes(1)), "the guest did not write all of its RAM within a minute");
        var settings = new MigrationSettings
        {
            Transport = MigrationTransport.RdmaCs, Port = FreePort(), ControlPort = FreePort(), BudgetBytes = budgetBytes, Provider = provider,
        };

        MigrationOutcome outcome = LiveMigration.Run(source, destination, settings, MigrationTimeout);

        Assert.True(outcome.Completed, $"migration {outcome.Status}: {outcome.Error}\nsource: {source.LogText}\ndestination: {destination.LogText}");
        Assert.Contains($"provider {provider} on", source.LogText);
        if (lockLimit is not null)
        {
            // The kernel was the referee: no CAP_IPC_LOCK, and a locked-memory limit of the budget on both sides.
            Assert.False(LockedMemoryLimit.MayLockPastLimit(source.Pid) || LockedMemoryLimit.MayLockPastLimit(destination.Pid), "a QEMU holds CAP_IPC_LOCK");
            Assert.Equal(budgetBytes, LockedMemoryLimit.Get(source.Pid));
            Assert.Equal(budgetBytes, LockedMemoryLimit.Get(destination.Pid));
        }
        Assert.True(outcome.LockedSamples > 10 && outcome.DestinationLockedSamples > 10, "VmLck was hardly sampled");
        Assert.InRange(outcome.PeakLockedBytes, 1, budgetBytes);
        Assert.Equal(0, outcome.LockedAfterBytes);
        // The destination registered (and locked) windows of guest RAM, never more than its budget, and none after.
        Assert.InRange(outcome.DestinationPeakLockedBytes, 1, budgetBytes);
        Assert.Equal(0, outcome.DestinationLockedAfterBytes);
        var destinationRdmaCs = outcome.DestinationRdmaCs!;
        Assert.Equal("destination", (string)destinationRdmaCs["role"]!);
        Assert.Equal(budgetBytes, (long)destinationRdmaCs["budget"]!);
        Assert.InRange((long)destinationRdmaCs["peak-pinned"]!, 1, budgetBytes);
        Assert.Equal(0, (long)destinationRdmaCs["pinned"]!);
        Assert.Equal((long)destinationRdmaCs["registrations"]!, (long)destinationRdmaCs["deregistrations"]!);

        // Every page QEMU counted went through the plugin, and the plugin stayed within its budget.
        var rdmaCs = outcome.RdmaCs!;
        Assert.Equal(outcome.NormalPages + outcome.ZeroPages, (long)rdmaCs["pages"]!);
        Assert.True(outcome.NormalPages + outcome.ZeroPages >= guestBytes / 4096, "fewer pages than the guest's RAM went through");
        Assert.InRange((long)rdmaCs["peak-pinned"]!, 1, budgetBytes);
        Assert.Equal(budgetBytes, (long)rdmaCs["budget"]!);
        Assert.Equal(0, (long)rdmaCs["pinned"]!);
        Assert.False((bool)rdmaCs["active"]!);

        // The benchmark's CPU breakdown sees the guest and the plugin's threads on each side (names as the kernel keeps
        // them: 15 characters).
        Assert.Contains(outcome.SourceCpu, t => t.Thread == "CPU 0/TCG" && t.Seconds > 0);
        Assert.Contains(outcome.SourceCpu, t => t.Thread == "rdmacs-selector" && t.Seconds > 0);
        Assert.Contains(outcome.DestinationCpu, t => t.Thread.StartsWith("rdmacs-", StringComparison.Ordinal) && t.Seconds > 0);

        byte[] before = source.ReadMemory();
        byte[] after = destination.ReadMemory();
        long first = GuestMemory.FirstDifference(before, after);
        Assert.True(first < 0, $"guest memory differs first at 0x{first:x}");
        Assert.InRange(GuestMemory.TornPages(after, GuestLoad.AllMemory), 0, 1);
        Assert.NotEqual(0u, GuestMemory.FirstGeneration(after)); // the guest did run
    }

    [Fact]
    public void A_mostly_idle_guest_sends_its_zero_pages_as_ranges_and_arrives_equal()
    {
        const long guestBytes = 512L << 20;
        using var destination = QemuMachine.StartDestination("destination", guestBytes);
        using var source = QemuMachine.StartSource("source", guestBytes, GuestLoad.Idle);
        Thread.Sleep(1000);
        var settings = new MigrationSettings { Transport = MigrationTransport.RdmaCs, Port = FreePort(), ControlPort = FreePort(), BudgetBytes = BudgetBytes };

        MigrationOutcome outcome = LiveMigration.Run(source, destination, settings, MigrationTimeout);

        Assert.True(outcome.Completed, $"migration {outcome.Status}: {outcome.Error}\nsource: {source.LogText}\ndestination: {destination.LogText}");
        var rdmaCs = outcome.RdmaCs!;
        long zeroPages = (long)rdmaCs["zero-pages"]!;
        // All but the 8 MiB hot set and what the firmware wrote is zero: far more than half of RAM went as zero ranges.
        Assert.True(zeroPages > guestBytes / 4096 / 2, $"only {zeroPages} zero pages");
        Assert.True((long)rdmaCs["transferred"]! < guestBytes / 4, $"{rdmaCs["transferred"]} bytes RDMA-written for a mostly zero guest");
        Assert.Equal(0, outcome.LockedAfterBytes);

        byte[] before = source.ReadMemory();
        byte[] after = destination.ReadMemory();
        long first = GuestMemory.FirstDifference(before, after);
        Assert.True(first < 0, $"guest memory differs first at 0x{first:x}");
        Assert.InRange(GuestMemory.TornPages(after, GuestLoad.Idle), 0, 1);
    }
}
