using static RdmaCs.Qemu.MigrationSettings;

namespace RdmaCs.Qemu.Tests;

/// <summary>
/// An rdma-cs destination survives any incoming stream: one that is not rdma-cs at all, and one cut at each of the
/// transport's record boundaries. Each time it fails cleanly (exit status 1, QEMU's own way out of a failed incoming
/// migration, with the reason logged; no assertion, no abort), so its guest never runs on incomplete RAM.
/// </summary>
public sealed class DestinationStreamTests
{
    private const long GuestBytes = 256L << 20;
    private const long BudgetBytes = 16L << 20;
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    [Fact]
    public void A_plain_tcp_stream_into_an_rdma_cs_destination_fails_it_before_its_guest_runs()
    {
        using var source = QemuMachine.StartSource("source", GuestBytes, GuestLoad.Idle);
        using var destination = QemuMachine.StartDestination("destination", GuestBytes);
        MigrationSettings settings = Settings();
        LiveMigration.Prepare(source, destination, settings);

        // The source is a plain QEMU migration, without the transport (and without its token).
        source.Qmp.Execute("migrate", new() { ["uri"] = $"tcp:127.0.0.1:{settings.Port}" });

        AssertFailedCleanly(destination, "ended without its FINISH record");
        WaitForEnd(source);
    }

    [Theory]
    [InlineData(StreamCuttingProxy.Setup, true)]
    [InlineData(StreamCuttingProxy.Round, true)]
    [InlineData(StreamCuttingProxy.Finish, false)]
    [InlineData(StreamCuttingProxy.Finish, true)]
    public void An_rdma_cs_stream_cut_at_a_record_boundary_fails_the_destination_cleanly(ushort record, bool after)
    {
        using var source = QemuMachine.StartSource("source", GuestBytes, GuestLoad.Idle);
        using var destination = QemuMachine.StartDestination("destination", GuestBytes);
        Thread.Sleep(500);
        MigrationSettings settings = Settings();
        LiveMigration.Prepare(source, destination, settings);
        using var proxy = new StreamCuttingProxy(settings.Port, record, after);

        source.Qmp.Execute("migrate", new() { ["uri"] = $"rdma-cs:127.0.0.1:{proxy.Port}" });

        AssertFailedCleanly(destination, "load of migration failed");
        Assert.True(proxy.Cut, "the stream ended before the record it was to be cut at");
        string status = WaitForEnd(source);
        if (status != "completed") // cut after FINISH, the source may have sent everything before it noticed
        {
            Assert.True(source.GuestIsWorking(TimeSpan.FromSeconds(10)), $"the source guest is not running: {source.RunState}\n{source.LogText}");
        }
        Assert.Equal(0, LiveMigration.WaitForUnlocked(source.Pid, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void A_destination_yanked_mid_migration_fails_cleanly_and_the_source_runs_on_unpinned()
    {
        using var source = QemuMachine.StartSource("source", GuestBytes, GuestLoad.Busy);
        using var destination = QemuMachine.StartDestination("destination", GuestBytes);
        Thread.Sleep(500);
        bool yanked = false;
        MigrationOutcome outcome = LiveMigration.Run(source, destination, Settings(), Timeout, progress =>
        {
            if (progress.Status == "active" && progress.TransferredBytes > GuestBytes / 8 && !yanked)
            {
                yanked = true;
                try
                {
                    destination.Qmp.Execute("yank", new() { ["instances"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject { ["type"] = "migration" }) });
                }
                catch (IOException)
                {
                    // The yank fails the incoming migration, and QEMU 7.2 exits on that, sometimes before it replies.
                }
            }
        }, TimeSpan.FromMilliseconds(10));

        Assert.True(yanked, $"the migration ended before it could be yanked: {outcome.Status}");
        AssertFailedCleanly(destination, "load of migration failed");
        Assert.Equal("failed", outcome.Status);
        Assert.True(source.GuestIsWorking(TimeSpan.FromSeconds(10)), $"the source guest is not running: {source.RunState}\n{source.LogText}");
        Assert.Equal(0, outcome.LockedAfterBytes);
    }

    private static void AssertFailedCleanly(QemuMachine destination, string reason)
    {
        int? exit = destination.WaitForExit(Timeout);
        Assert.True(exit is not null, $"the destination did not fail:\n{destination.LogText}");
        Assert.True(exit == 1, $"the destination exited with {exit}, not 1 (QEMU's failed incoming migration):\n{destination.LogText}");
        Assert.Contains(reason, destination.LogText);
        Assert.DoesNotContain("ssertion", destination.LogText);
    }

    private static string WaitForEnd(QemuMachine source)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        string status;
        while ((status = (string)source.Qmp.Execute("query-migrate")!["status"]!) is not ("completed" or "failed" or "cancelled"))
        {
            Assert.True(clock.Elapsed < Timeout, $"the source's migration is still {status}");
            Thread.Sleep(50);
        }
        return status;
    }

    private static MigrationSettings Settings() => new()
    {
        Transport = MigrationTransport.RdmaCs, Port = FreePort(), ControlPort = FreePort(), BudgetBytes = BudgetBytes,
    };
}
