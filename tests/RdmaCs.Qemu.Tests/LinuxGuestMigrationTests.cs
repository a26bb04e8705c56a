namespace RdmaCs.Qemu.Tests;

/// <summary>
/// A real Linux guest (Debian 12's kernel and the memcheck-init program, see <see cref="LinuxGuest"/>) live-migrated
/// hop after hop: each destination must resume it, and the guest's own check of every page must stay clean there for
/// two whole sweeps (the sweep under way at the switchover, and one that reads every page again). Over rdma-cs the
/// source's VmLck never exceeds the budget; QEMU's tcp: is the control, held to the same checks.
/// </summary>
public sealed class LinuxGuestMigrationTests
{
    private const long CheckedBytes = 256L << 20;
    private const long GuestBytes = CheckedBytes + LinuxGuest.KernelBytes;
    private const long BudgetBytes = 32L << 20;
    private const int Hops = 2;
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan MigrationTimeout = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan SweepTimeout = TimeSpan.FromMinutes(3);

    [Theory]
    [InlineData(MigrationTransport.RdmaCs, false)]
    [InlineData(MigrationTransport.RdmaCs, true)]
    [InlineData(MigrationTransport.Tcp, false)]
    public void A_Linux_guest_migrates_hop_after_hop_and_its_own_check_stays_clean(MigrationTransport transport, bool randomOrder)
    {
        var guest = new LinuxGuest(CheckedBytes, randomOrder);
        QemuMachine current = QemuMachine.StartSource("linux-0", GuestBytes, guest);
        try
        {
            GuestReport? booted = LinuxGuest.WaitForSweeps(current, 1, BootTimeout);
            Assert.True(booted is { Corruption.Count: 0 }, $"the guest did not boot and sweep once within {BootTimeout.TotalMinutes} min:\n{booted?.Tail ?? LinuxGuest.Report(current).Tail}\n{current.LogText}");

            for (int hop = 1; hop <= Hops; hop++)
            {
                QemuMachine next = QemuMachine.StartDestination($"linux-{hop}", GuestBytes, guest);
                var settings = new MigrationSettings
                {
                    Transport = transport, Port = MigrationSettings.FreePort(), ControlPort = MigrationSettings.FreePort(), BudgetBytes = BudgetBytes,
                };
                MigrationOutcome outcome = LiveMigration.Run(current, next, settings, MigrationTimeout);
                Console.WriteLine($"{settings.Name} {guest} hop {hop}: {outcome.Status} in {outcome.TotalMs} ms, downtime {outcome.DowntimeMs} ms, " +
                                  $"{outcome.Rounds} round(s), peak VmLck {outcome.PeakLockedBytes >> 20} MiB");
                Assert.True(outcome.Completed, $"hop {hop}: migration {outcome.Status}: {outcome.Error}\nsource: {current.LogText}\ndestination: {next.LogText}");
                if (transport == MigrationTransport.RdmaCs)
                {
                    Assert.InRange(outcome.PeakLockedBytes, 0, BudgetBytes);
                    Assert.Equal(0, outcome.LockedAfterBytes);
                }
                current.Dispose();
                current = next;

                current.Qmp.Execute("cont"); // the destination waits, paused (-S), as under libvirt, which resumes it
                Assert.Equal("running", current.RunState);
                GuestReport? checkedThere = LinuxGuest.WaitForSweeps(current, 2, SweepTimeout);
                Assert.True(checkedThere is not null, $"hop {hop}: the guest did not finish two sweeps on its new host within {SweepTimeout.TotalMinutes} min:\n{LinuxGuest.Report(current).Tail}");
                Assert.True(checkedThere.Corruption.Count == 0, $"hop {hop}: the guest found its memory corrupted:\n{string.Join("\n", checkedThere.Corruption)}");
            }
        }
        finally
        {
            current.Dispose();
        }
    }
}
