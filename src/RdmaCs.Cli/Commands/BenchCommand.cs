using System.CommandLine;
using RdmaCs.Cli.Bench;
using RdmaCs.Cli.Qemu;
using RdmaCs.Qemu;

namespace RdmaCs.Cli.Commands;

/// <summary><c>rdmacs bench ...</c>: benchmarks that print their figures beside a baseline measured in the same run.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "Benchmarks; each compares against a baseline measured in the same run.");
        bench.Subcommands.Add(EngineBenchCommand());
        bench.Subcommands.Add(TransferBenchCommand());
        bench.Subcommands.Add(AbiBenchCommand());
        bench.Subcommands.Add(QemuBenchCommand());
        bench.Subcommands.Add(LibvirtBenchCommand());
        bench.Subcommands.Add(SoakBenchCommand());
        bench.Subcommands.Add(ModelBenchCommand.Create());
        return bench;
    }

    /// <summary>The options the two guest-migration benchmarks (qemu, libvirt) share.</summary>
    private sealed class GuestMigrationOptions
    {
        public SizeOption Memory { get; } = new("--memory", "guest RAM", "512M");
        public SizeOption Budget { get; } = new("--budget", "rdma-cs pinned-memory budget", "64M");
        public Option<string> Provider { get; } = SharedOptions.Provider();
        public Option<string> Load { get; }
        public Option<int> Repeat { get; } = CountOption.Create("--repeat", "migrations of each kind, alternated; the median of each is reported", 3, minimum: 1);
        public Option<bool> Json { get; } = new("--json") { Description = "print the figures as JSON only" };

        public GuestMigrationOptions(bool linux)
        {
            Provider.DefaultValueFactory = _ => "tcp";
            Load = GuestLoadOption.Create(linux);
        }

        public GuestImage Guest(ParseResult parse) => GuestLoadOption.Resolve(parse.GetValue(Load)!, Memory.Get(parse));

        public void AddTo(Command command)
        {
            foreach (Option option in new Option[] { Memory, Budget, Provider, Load, Repeat, Json })
            {
                command.Options.Add(option);
            }
        }
    }

    private static Command QemuBenchCommand()
    {
        var options = new GuestMigrationOptions(linux: true);
        var plot = new Option<FileInfo?>("--plot") { Description = "draw the three migrations over time into this PNG" };
        var command = new Command("qemu",
            "A test guest (the page writer, or Linux with --load linux) live-migrated between two QEMU processes three ways in one run: rdma-cs, QEMU's tcp:, and " +
            "QEMU's multifd (4 channels); total time, downtime, bytes and peak pinned memory of each (builds QEMU first if needed).");
        options.AddTo(command);
        command.Options.Add(plot);
        command.SetAction(parse => QemuBenchmark.Run(new QemuBenchmark.Settings(
            options.Memory.Get(parse), options.Budget.Get(parse), parse.GetValue(options.Provider)!, parse.GetValue(options.Load)!, options.Guest(parse),
            parse.GetValue(options.Repeat), parse.GetValue(options.Json), parse.GetValue(plot))));
        return command;
    }

    private static Command LibvirtBenchCommand()
    {
        var options = new GuestMigrationOptions(linux: false);
        var command = new Command("libvirt",
            "The page-writer guest as a libvirt domain, migrated with `virsh migrate --live --p2p` between two libvirt hosts on " +
            "this machine over rdma-cs and over libvirt's tcp in one run: libvirt's time and downtime, peak pinned memory, the " +
            "destination's pages checked whole (builds QEMU and libvirt first if needed).");
        options.AddTo(command);
        command.SetAction(parse => LibvirtBenchmark.Run(new LibvirtBenchmark.Settings(
            options.Memory.Get(parse), options.Budget.Get(parse), parse.GetValue(options.Provider)!, (GuestLoad)options.Guest(parse),
            parse.GetValue(options.Repeat), parse.GetValue(options.Json))));
        return command;
    }

    private static Command SoakBenchCommand()
    {
        var minutes = new Option<double>("--minutes")
        {
            Description = "how long to start migrations for; the one in progress then finishes (fractions allowed: 0.5)",
            HelpName = "n",
            Required = true,
        };
        minutes.Validators.Add(result =>
        {
            if (!(result.GetValueOrDefault<double>() > 0))
            {
                result.AddError("--minutes must be more than 0");
            }
        });
        var memory = new SizeOption("--memory", "guest RAM, 32M to 1G", "256M");
        memory.Option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<long?>() is { } bytes && (bytes < 32L << 20 || bytes > 1L << 30 || bytes % (1L << 20) != 0))
            {
                result.AddError("--memory must be a whole number of MiB from 32M to 1G");
            }
        });
        var seed = new Option<int?>("--seed")
        {
            Description = "seed of every random choice (each guest's load and number of migrations, each migration's budget, " +
                          "fault and its moment); default: a random seed, printed first, so that a run can be replayed",
            HelpName = "s",
        };
        var guestMigrations = CountOption.Create("--guest-migrations",
            "the test guest reads its load only when it boots, so each guest is booted with a random load, kept running across " +
            "a random number of migrations from 1 to n, then retired for a new one; 0: one guest (one load) for the whole run", 8, minimum: 0);
        var provider = SharedOptions.Provider();
        provider.DefaultValueFactory = _ => "tcp";
        var json = new Option<bool>("--json") { Description = "print the totals as JSON on stdout (the progress lines still go to stderr)" };
        var command = new Command("soak",
            "The page-writer guest live-migrated over rdma-cs from QEMU to a fresh QEMU, hop after hop, for --minutes: each " +
            "guest booted with a random load (all, busy, idle, two hot sets) and kept running across its hops, each migration " +
            "with a random budget (4M to 64M), about half of them interrupted at a random moment (migrate_cancel, QMP yank, or " +
            "the destination killed). A completed migration must " +
            "leave both memories equal byte for byte (then the guest continues on the destination); after a failed one the " +
            "source guest must still run and the source QEMU's VmLck return to 0. One line per migration on stderr. Exit status " +
            "1 when a migration failed without an injected fault, memory differed, VmLck stayed above 0, a guest stopped " +
            "running, or pinned memory exceeded the budget (builds QEMU first if needed).")
        {
            minutes, memory, seed, guestMigrations, provider, json,
        };
        command.SetAction(parse => SoakBenchmark.Run(new SoakBenchmark.Settings(
            parse.GetValue(minutes), memory.Get(parse), parse.GetValue(seed), parse.GetValue(guestMigrations), parse.GetValue(provider)!,
            parse.GetValue(json))));
        return command;
    }

    private static Command AbiBenchCommand()
    {
        var json = new Option<bool>("--json") { Description = "print the figures as JSON only" };
        var command = new Command("abi",
            "What one src_save_page costs through the C shim into the NativeAOT engine, over 1 GiB of pages, beside an empty " +
            "C call made the same way (builds the native parts first).")
        {
            json,
        };
        command.SetAction(parse => AbiBenchmark.Run(parse.GetValue(json)));
        return command;
    }

    private static Command TransferBenchCommand()
    {
        var size = new SizeOption("--size", "region written in each run", "1G");
        var budget = new SizeOption("--budget", "pinned-memory budget of the budgeted run", "64M");
        var maxBlock = SizeOption.MaxBlock();
        var provider = SharedOptions.Provider();
        var json = new Option<bool>("--json") { Description = "print the figures as JSON only" };
        var plot = new Option<FileInfo?>("--plot") { Description = "draw pinned bytes and data sent over time for the three runs into this PNG" };
        var repeat = CountOption.Create("--repeat", "runs of each kind, alternated; the median run of each is reported", 3, minimum: 1);
        var pattern = new Option<string>("--pattern")
        {
            Description = "the shape of dirty memory of a fourth run, compared with the contiguous one: contiguous, zero-holes " +
                          "(every seventh page zero), sparse (one page in sixteen changed) or random (every page, designated in " +
                          "random order while the engine runs)",
            DefaultValueFactory = _ => "contiguous",
        };
        pattern.AcceptOnlyFromAmong([.. Enum.GetValues<TransferPattern>().Select(p => p.Name())]);
        var command = new Command("transfer",
            "One region written over libfabric to a receiver process on loopback, three ways in one run: raw (fi_write from a " +
            "buffer registered beforehand), pin_all (register and pin everything, then write), budgeted (the engine at the budget).")
        {
            size, budget, maxBlock, provider, pattern, repeat, json, plot,
        };
        command.SetAction(parse => TransferBenchmark.Execute(new TransferBenchmark.Settings(
            size.Get(parse), budget.Get(parse), maxBlock.GetMaxBlock(parse, budget.Get(parse)), parse.GetValue(provider)!,
            TransferPatterns.Parse(parse.GetValue(pattern)!), parse.GetValue(repeat), parse.GetValue(json), parse.GetValue(plot))));
        return command;
    }

    private static Command EngineBenchCommand()
    {
        var size = new SizeOption("--size", "region moved by the throughput runs", "1G");
        var budget = new SizeOption("--budget", "pinned-memory budget of the budgeted run", "64M");
        var maxBlock = SizeOption.MaxBlock();
        var repeat = CountOption.Create("--repeat", "runs of each kind, alternated; medians are reported", 9, minimum: 1);
        var json = new Option<bool>("--json") { Description = "print the figures as JSON only" };
        var command = new Command("engine",
            "Designation cost per page, and the engine's throughput over the in-memory fabric with mlock pinning at a " +
            "budget versus an unbounded budget (the same region, the same run).")
        {
            size, budget, maxBlock, repeat, json,
        };
        command.SetAction(parse => EngineBenchmark.Run(new EngineBenchmark.Settings(
            size.Get(parse), budget.Get(parse), maxBlock.GetMaxBlock(parse, budget.Get(parse)), parse.GetValue(repeat), parse.GetValue(json))));
        return command;
    }
}
