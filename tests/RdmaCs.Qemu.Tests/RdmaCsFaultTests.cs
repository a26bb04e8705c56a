using System.Text.Json.Nodes;
using static RdmaCs.Qemu.MigrationSettings;

namespace RdmaCs.Qemu.Tests;

/// <summary>
/// Migrations over rdma-cs that must not succeed: cancelled (during the bulk phase and during completion), yanked,
/// destination killed, wrong token, refused capabilities, missing plugin or token. Each time the source guest keeps
/// running, QEMU says why, and nothing stays pinned (VmLck back to zero) — and the source can migrate again.
/// </summary>
public sealed class RdmaCsFaultTests
{
    private const long GuestBytes = 512L << 20;
    private const long BudgetBytes = 16L << 20;
    private static readonly TimeSpan MigrationTimeout = TimeSpan.FromMinutes(2);

    [Fact]
    public void Cancelled_during_the_bulk_phase_the_source_runs_on_unpinned_and_can_migrate_again()
    {
        using var source = QemuMachine.StartSource("source", GuestBytes);
        Thread.Sleep(1000);
        using (var destination = QemuMachine.StartDestination("destination", GuestBytes))
        {
            MigrationOutcome outcome = MigrateInterruptedInBulk(source, destination, () => source.Qmp.Execute("migrate_cancel"));
            Assert.Equal("cancelled", outcome.Status);
            AssertSourceRecovered(source, outcome);
        }

        using var second = QemuMachine.StartDestination("second-destination", GuestBytes);
        MigrationOutcome again = LiveMigration.Run(source, second, Settings(), MigrationTimeout);
        Assert.True(again.Completed, $"the migration after a cancel {again.Status}: {again.Error}\n{source.LogText}");
        Assert.True(GuestMemory.FirstDifference(source.ReadMemory(), second.ReadMemory()) < 0, "memory differs after the second migration");
    }

    [Fact]
    public void Yanked_during_completion_the_guest_resumes_on_the_source_unpinned()
    {
        // During completion QEMU holds its main lock: migrate_cancel waits for it, so the way out is yank, out of band,
        // on a second monitor that also hears QEMU's events.
        string events = Path.Combine(Path.GetTempPath(), $"rdmacs-oob-{Guid.NewGuid():N}.sock");
        using var source = QemuMachine.StartSource("source", GuestBytes, null, "-qmp", $"unix:{events},server=on,wait=off");
        using var destination = QemuMachine.StartDestination("destination", GuestBytes);
        using var outOfBand = QmpClient.Connect(events, TimeSpan.FromSeconds(10), outOfBand: true);
        Thread.Sleep(1000);
        // A downtime limit of a minute makes QEMU stop the guest after the first pass and send the rest in completion,
        // which takes long enough to yank in.
        MigrationSettings settings = Settings() with { DowntimeLimitMs = 60_000 };
        Exception? yankFailure = null;
        var yank = new Thread(() =>
        {
            try
            {
                // QEMU 7.2 stays "active" during completion; the guest's STOP marks it.
                outOfBand.WaitForEvent(e => (string?)e["event"] == "STOP", MigrationTimeout);
                outOfBand.ExecuteOutOfBand("yank", new() { ["instances"] = new JsonArray(new JsonObject { ["type"] = "migration" }) });
            }
            catch (Exception e)
            {
                yankFailure = e;
            }
        });
        yank.Start();
        MigrationOutcome outcome = LiveMigration.Run(source, destination, settings, MigrationTimeout);
        Assert.True(yank.Join(TimeSpan.FromSeconds(30)) && yankFailure is null, $"the out-of-band yank did not happen: {yankFailure?.Message}");
        Assert.Equal("failed", outcome.Status);
        AssertSourceRecovered(source, outcome);
        File.Delete(events);
    }

    [Fact]
    public void A_budget_past_the_kernels_locked_memory_limit_fails_in_the_kernel_and_the_source_runs_on()
    {
        // The QEMUs run without CAP_IPC_LOCK: with RLIMIT_MEMLOCK at half the budget, the kernel refuses the lock that
        // would pass it, whatever the plugin's own accounting allows; the migration fails with the kernel's reason.
        var limit = new KernelLockLimit(BudgetBytes / 2);
        using var source = QemuMachine.StartSource("source", GuestBytes, null, limit);
        using var destination = QemuMachine.StartDestination("destination", GuestBytes, limit);
        Thread.Sleep(1000);
        Assert.False(LockedMemoryLimit.MayLockPastLimit(source.Pid), "the source QEMU holds CAP_IPC_LOCK");

        MigrationOutcome outcome = LiveMigration.Run(source, destination, Settings(), MigrationTimeout);

        Assert.Equal("failed", outcome.Status);
        Assert.Contains("mlock of", outcome.Error ?? "");
        Assert.Contains("RLIMIT_MEMLOCK", outcome.Error ?? "");
        Assert.InRange(outcome.PeakLockedBytes, 0, BudgetBytes / 2);
        AssertSourceRecovered(source, outcome);
    }

    [Fact]
    public void A_process_holding_the_control_port_stops_migrate_incoming_with_the_reason()
    {
        // The destination listens on its control port from migrate-incoming on: a process that took the port
        // earlier makes that fail, so it can never meet the source.
        using var squatter = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        squatter.Start();
        using var source = QemuMachine.StartSource("source", GuestBytes, GuestLoad.Idle);
        using var destination = QemuMachine.StartDestination("destination", GuestBytes);
        MigrationSettings settings = Settings() with { ControlPort = ((System.Net.IPEndPoint)squatter.LocalEndpoint).Port };

        var error = Assert.Throws<QmpException>(() => LiveMigration.Prepare(source, destination, settings));

        Assert.Contains("rdma-cs", error.Message);
        for (int wait = 0; wait < 50 && !destination.LogText.Contains("another process holds that port"); wait++)
        {
            Thread.Sleep(100); // QEMU's log arrives on its own thread
        }
        Assert.Contains($"cannot listen for the source on 127.0.0.1:{settings.ControlPort}", destination.LogText);
        Assert.Contains("another process holds that port", destination.LogText);
    }

    [Fact]
    public void Connections_that_fail_before_the_source_do_not_stop_it()
    {
        // Before the source arrives: a peer that sends garbage, one with a wrong token, one that says nothing and
        // leaves. The destination refuses each, keeps listening, and the real source migrates.
        using var source = QemuMachine.StartSource("source", GuestBytes, GuestLoad.Busy);
        using var destination = QemuMachine.StartDestination("destination", GuestBytes);
        Thread.Sleep(500);
        MigrationSettings settings = Settings();
        MigrationOutcome outcome = LiveMigration.Run(source, destination, settings, MigrationTimeout, beforeMigrate: () =>
        {
            using (var garbage = new System.Net.Sockets.TcpClient("127.0.0.1", settings.ControlPort))
            {
                garbage.GetStream().Write("GET / HTTP/1.1\r\n\r\n"u8);
                garbage.GetStream().ReadByte(); // the destination's error, then it hangs up
            }
            using (var impostor = new System.Net.Sockets.TcpClient("127.0.0.1", settings.ControlPort))
            {
                impostor.GetStream().Write(Protocol.MessageCodec.Encode(
                    new Protocol.Hello(4096, "not-the-token", "tcp", [new Protocol.BlockDescriptor("pc.ram", 1)])));
                impostor.GetStream().ReadByte();
            }
            new System.Net.Sockets.TcpClient("127.0.0.1", settings.ControlPort).Dispose();
            Thread.Sleep(200);
        });

        Assert.True(outcome.Completed, $"migration {outcome.Status}: {outcome.Error}\n{destination.LogText}");
        Assert.Contains("still waiting for the source", destination.LogText);
        Assert.Equal(0, outcome.LockedAfterBytes);
        Assert.True(GuestMemory.FirstDifference(source.ReadMemory(), destination.ReadMemory()) < 0, "memory differs");
    }

    [Theory]
    [InlineData("migrate_cancel")]
    [InlineData("yank")]
    public void Interrupted_in_completion_with_a_frozen_destination_the_source_resumes_at_once_unpinned(string command)
    {
        // The destination stops answering (SIGSTOP) after the source has stopped its guest for the switchover: the
        // final flush and fence wait for it. A cancel or a yank must end those waits within the plugin's 100 ms
        // polling, not at their 30 s deadline, and the guest must run on at the source, its disks active.
        using var source = QemuMachine.StartSource("source", GuestBytes, GuestLoad.Busy);
        using var destination = QemuMachine.StartDestination("destination", GuestBytes);
        Thread.Sleep(1000);
        MigrationSettings settings = Settings();
        LiveMigration.Prepare(source, destination, settings);
        source.Qmp.Execute("migrate-set-capabilities", new()
        {
            ["capabilities"] = new JsonArray(new JsonObject { ["capability"] = "pause-before-switchover", ["state"] = true }),
        });
        source.Qmp.Execute("migrate", new() { ["uri"] = settings.Uri });
        WaitForStatus(source, "pre-switchover");
        destination.Freeze();
        source.Qmp.Execute("migrate-continue", new() { ["state"] = "pre-switchover" });
        Thread.Sleep(2000);
        Assert.Equal("device", (string?)source.Qmp.Execute("query-migrate")!["status"]); // stuck in completion

        var clock = System.Diagnostics.Stopwatch.StartNew();
        source.Qmp.Execute(command, command == "yank"
            ? new() { ["instances"] = new JsonArray(new JsonObject { ["type"] = "migration" }) }
            : null);
        string status = WaitForStatus(source, "failed", "cancelled");
        TimeSpan ended = clock.Elapsed;
        Assert.True(source.GuestIsWorking(TimeSpan.FromSeconds(10)), $"the source guest is not running: {source.RunState}\n{source.LogText}");
        TimeSpan resumed = clock.Elapsed;
        Console.WriteLine($"{command} in completion with a frozen destination: migration {status} after {ended.TotalMilliseconds:0} ms, guest seen running after {resumed.TotalMilliseconds:0} ms");
        Assert.True(ended < TimeSpan.FromSeconds(2), $"the {command} took {ended.TotalMilliseconds:0} ms to end the migration");
        Assert.Equal(0, LiveMigration.WaitForUnlocked(source.Pid, TimeSpan.FromSeconds(5)));
        destination.Thaw();

        // The interruption came while completion could be inactivating the guest's disks (its boot floppy): they
        // must be active again, or this migration aborts QEMU in bdrv_inactivate_recurse.
        source.Qmp.Execute("migrate-set-capabilities", new()
        {
            ["capabilities"] = new JsonArray(new JsonObject { ["capability"] = "pause-before-switchover", ["state"] = false }),
        });
        using var second = QemuMachine.StartDestination("second-destination", GuestBytes);
        MigrationOutcome again = LiveMigration.Run(source, second, Settings(), MigrationTimeout);
        Assert.True(again.Completed, $"the migration after the {command} {again.Status}: {again.Error}\n{source.LogText}");
        Assert.True(GuestMemory.FirstDifference(source.ReadMemory(), second.ReadMemory()) < 0, "memory differs after the second migration");
    }

    [Fact]
    public void Cancelled_in_setup_while_the_plugin_waits_for_the_destination_the_source_runs_on()
    {
        // The source's plugin is sent to a control port that accepts and then says nothing: it waits in setup.
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        using var source = QemuMachine.StartSource("source", GuestBytes);
        using var destination = QemuMachine.StartDestination("destination", GuestBytes);
        MigrationSettings settings = Settings();
        LiveMigration.Prepare(source, destination, settings);
        source.Qmp.Execute("migrate-set-parameters", new() { ["rdma-cs-control-port"] = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port });
        source.Qmp.Execute("migrate", new() { ["uri"] = settings.Uri });
        using var accepted = silent.AcceptSocket(); // the plugin connected and sent its hello
        Thread.Sleep(500);
        Assert.Equal("setup", (string?)source.Qmp.Execute("query-migrate")!["status"]);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        source.Qmp.Execute("migrate_cancel");
        string status;
        while ((status = (string)source.Qmp.Execute("query-migrate")!["status"]!) is not ("cancelled" or "failed") && clock.Elapsed < MigrationTimeout)
        {
            Thread.Sleep(20);
        }
        Assert.Equal("cancelled", status);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the cancel took {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.True(source.GuestIsWorking(TimeSpan.FromSeconds(10)), $"the source guest is not running: {source.RunState}");
        Assert.Equal(0, LiveMigration.WaitForUnlocked(source.Pid, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void Yanked_during_the_bulk_phase_the_migration_fails_and_the_source_runs_on_unpinned()
    {
        using var source = QemuMachine.StartSource("source", GuestBytes);
        using var destination = QemuMachine.StartDestination("destination", GuestBytes);
        Thread.Sleep(1000);
        MigrationOutcome outcome = MigrateInterruptedInBulk(source, destination, () =>
            source.Qmp.Execute("yank", new() { ["instances"] = new JsonArray(new JsonObject { ["type"] = "migration" }) }));
        Assert.Equal("failed", outcome.Status);
        AssertSourceRecovered(source, outcome);
    }

    [Fact]
    public void A_destination_killed_mid_way_fails_the_migration_and_the_source_runs_on_unpinned()
    {
        using var source = QemuMachine.StartSource("source", GuestBytes);
        using var destination = QemuMachine.StartDestination("destination", GuestBytes);
        Thread.Sleep(1000);
        MigrationOutcome outcome = MigrateInterruptedInBulk(source, destination, destination.Kill);
        Assert.Equal("failed", outcome.Status);
        Assert.Contains("rdma-cs", source.LogText); // the plugin said what happened
        AssertSourceRecovered(source, outcome);
    }

    [Fact]
    public void A_wrong_token_is_refused_by_the_destination_and_the_source_runs_on()
    {
        using var source = QemuMachine.StartSource("source", GuestBytes);
        using var destination = QemuMachine.StartDestination("destination", GuestBytes);
        Thread.Sleep(500);
        MigrationOutcome outcome = LiveMigration.Run(source, destination, Settings() with { SourceToken = "not-the-token" }, MigrationTimeout);
        Assert.Equal("failed", outcome.Status);
        Assert.Contains("wrong token", source.LogText);
        Assert.Contains("wrong token", destination.LogText);
        AssertSourceRecovered(source, outcome);
    }

    [Theory]
    [InlineData("xbzrle")]
    [InlineData("compress")]
    [InlineData("multifd")]
    [InlineData("postcopy-ram")]
    public void A_capability_rdma_cs_cannot_combine_with_is_refused_before_anything_starts(string capability)
    {
        using var source = QemuMachine.StartSource("source", GuestBytes);
        using var destination = QemuMachine.StartDestination("destination", GuestBytes);
        MigrationSettings settings = Settings();
        LiveMigration.Prepare(source, destination, settings);
        source.Qmp.Execute("migrate-set-capabilities", new()
        {
            ["capabilities"] = new JsonArray(new JsonObject { ["capability"] = capability, ["state"] = true }),
        });
        var error = Assert.Throws<QmpException>(() => source.Qmp.Execute("migrate", new() { ["uri"] = settings.Uri }));
        Assert.Contains("cannot be used with rdma-cs", error.Message);
        Assert.True(source.GuestIsWorking(TimeSpan.FromSeconds(10)), "the source guest stopped");
        Assert.Equal(0, Memory.ProcessMemoryStatus.ReadLockedBytes(source.Pid));
    }

    [Fact]
    public void A_missing_plugin_or_token_is_a_clear_error_and_the_source_runs_on()
    {
        using var source = QemuMachine.StartSource("source", GuestBytes, null, "-global", "migration.rdma-cs-plugin=/nonexistent/librdmacs-qemu.so");
        source.Qmp.Execute("migrate-set-parameters", new() { ["rdma-cs-token"] = "t" });
        var error = Assert.Throws<QmpException>(() => source.Qmp.Execute("migrate", new() { ["uri"] = $"rdma-cs:127.0.0.1:{FreePort()}" }));
        Assert.Contains("cannot load plugin /nonexistent/librdmacs-qemu.so", error.Message);

        using var tokenless = QemuMachine.StartSource("tokenless", GuestBytes);
        error = Assert.Throws<QmpException>(() => tokenless.Qmp.Execute("migrate", new() { ["uri"] = $"rdma-cs:127.0.0.1:{FreePort()}" }));
        Assert.Contains("rdma-cs-token", error.Message);
        Assert.True(source.GuestIsWorking(TimeSpan.FromSeconds(10)) && tokenless.GuestIsWorking(TimeSpan.FromSeconds(10)), "a source guest stopped");
    }

    [Fact]
    public void Info_rdma_cs_and_query_rdma_cs_report_the_figures_of_the_last_migration()
    {
        using var source = QemuMachine.StartSource("source", GuestBytes, GuestLoad.Busy);
        using var destination = QemuMachine.StartDestination("destination", GuestBytes);
        Assert.Throws<QmpException>(() => source.Qmp.Execute("query-rdma-cs")); // nothing to report yet
        Thread.Sleep(500);
        MigrationOutcome outcome = LiveMigration.Run(source, destination, Settings(), MigrationTimeout);
        Assert.True(outcome.Completed, $"{outcome.Status}: {outcome.Error}");

        string info = source.Hmp("info rdma-cs");
        Assert.Contains("rdma-cs source: finished", info);
        Assert.Contains($"budget {BudgetBytes >> 10} kbytes", info);
        Assert.Matches(@"pinned: 0 kbytes \(peak [1-9][0-9]* kbytes", info);
        Assert.Contains("rdma-cs destination: finished", destination.Hmp("info rdma-cs"));
        JsonNode query = source.Qmp.Execute("query-rdma-cs")!;
        Assert.Equal("source", (string?)query["role"]);
        Assert.True((long)query["registrations"]! > 0);
    }

    /// <summary>Migrates, and once an eighth of the guest has gone (at each poll from then on), does <paramref name="interrupt"/>.</summary>
    private static MigrationOutcome MigrateInterruptedInBulk(QemuMachine source, QemuMachine destination, Action interrupt) =>
        LiveMigration.Run(source, destination, Settings(), MigrationTimeout, progress =>
        {
            if (progress.Status == "active" && progress.TransferredBytes > GuestBytes / 8)
            {
                interrupt();
            }
        }, TimeSpan.FromMilliseconds(10));

    /// <summary>Polls the source's migration until its status is one of <paramref name="statuses"/>; returns it.</summary>
    private static string WaitForStatus(QemuMachine source, params string[] statuses)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        string status;
        while (!statuses.Contains(status = (string)source.Qmp.Execute("query-migrate")!["status"]!))
        {
            Assert.True(clock.Elapsed < MigrationTimeout && status is not ("failed" or "cancelled" or "completed"),
                $"the migration is {status}, not {string.Join(" or ", statuses)}\n{source.LogText}");
            Thread.Sleep(10);
        }
        return status;
    }

    private static MigrationSettings Settings() => new()
    {
        Transport = MigrationTransport.RdmaCs, Port = FreePort(), ControlPort = FreePort(), BudgetBytes = BudgetBytes,
    };

    private static void AssertSourceRecovered(QemuMachine source, MigrationOutcome outcome)
    {
        Assert.False(source.HasExited, "the source QEMU exited");
        Assert.True(source.GuestIsWorking(TimeSpan.FromSeconds(10)), $"the source guest is not running: {source.RunState}\n{source.LogText}");
        Assert.Equal(0, outcome.LockedAfterBytes);
        Assert.InRange(outcome.PeakLockedBytes, 0, BudgetBytes);
    }
}
