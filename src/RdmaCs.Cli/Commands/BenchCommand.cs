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
        return bench;
    }

    /// <summary>The options the two guest-migration benchmarks (qemu, libvirt) share.</summary>
    private sealed class GuestMigrationOptions
    {
        public SizeOption Memory { get; } = new("--memory", "guest RAM", "512M");
        public SizeOption Budget { get; } = new("--budget", "rdma-cs pinned-memory budget", "64M");
        public Option<string> Provider { get; } = SharedOptions.Provider();
        public Option<GuestLoad> Load { get; } = GuestLoadOption.Create();
        public Option<int> Repeat { get; } = CountOption.Create("--repeat", "migrations of each kind, alternated; the median of each is reported", 3, minimum: 1);
        public Option<bool> Json { get; } = new("--json") { Description = "print the figures as JSON only" };

        public GuestMigrationOptions() => Provider.DefaultValueFactory = _ => "tcp";

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
        var options = new GuestMigrationOptions();
        var plot = new Option<FileInfo?>("--plot") { Description = "draw the three migrations over time into this PNG" };
        var command = new Command("qemu",
            "The page-writer guest live-migrated between two QEMU processes three ways in one run: rdma-cs, QEMU's tcp:, and " +
            "QEMU's multifd (4 channels); total time, downtime, bytes and peak pinned memory of each (builds QEMU first if needed).");
        options.AddTo(command);
        command.Options.Add(plot);
        command.SetAction(parse => QemuBenchmark.Run(new QemuBenchmark.Settings(
            options.Memory.Get(parse), options.Budget.Get(parse), parse.GetValue(options.Provider)!, parse.GetValue(options.Load)!,
            parse.GetValue(options.Repeat), parse.GetValue(options.Json), parse.GetValue(plot))));
        return command;
    }

    private static Command LibvirtBenchCommand()
    {
        var options = new GuestMigrationOptions();
        var command = new Command("libvirt",
            "The page-writer guest as a libvirt domain, migrated with `virsh migrate --live --p2p` between two libvirt hosts on " +
            "this machine over rdma-cs and over libvirt's tcp in one run: libvirt's time and downtime, peak pinned memory, the " +
            "destination's pages checked whole (builds QEMU and libvirt first if needed).");
        options.AddTo(command);
        command.SetAction(parse => LibvirtBenchmark.Run(new LibvirtBenchmark.Settings(
            options.Memory.Get(parse), options.Budget.Get(parse), parse.GetValue(options.Provider)!, parse.GetValue(options.Load)!,
            parse.GetValue(options.Repeat), parse.GetValue(options.Json))));
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
        var command = new Command("transfer",
            "One region written over libfabric to a receiver process on loopback, three ways in one run: raw (fi_write from a " +
            "buffer registered beforehand), pin_all (register and pin everything, then write), budgeted (the engine at the budget).")
        {
            size, budget, maxBlock, provider, repeat, json, plot,
        };
        command.SetAction(parse => TransferBenchmark.Execute(new TransferBenchmark.Settings(
            size.Get(parse), budget.Get(parse), maxBlock.GetMaxBlock(parse, budget.Get(parse)), parse.GetValue(provider)!, parse.GetValue(repeat), parse.GetValue(json), parse.GetValue(plot))));
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
