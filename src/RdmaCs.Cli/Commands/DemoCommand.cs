using System.CommandLine;
using System.Security.Cryptography;
using RdmaCs.Cli.Demo;
using RdmaCs.Cli.Qemu;
using RdmaCs.Cli.Remote;

namespace RdmaCs.Cli.Commands;

/// <summary>
/// <c>rdmacs demo</c>: the main job, a real guest live-migrated between two QEMU processes over rdma-cs (beside
/// QEMU's tcp:); <c>rdmacs demo processes</c>: the engine alone, a live region between two rdmacs processes.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var memory = new SizeOption("--memory", "guest RAM", "512M");
        var budget = new SizeOption("--budget", "rdma-cs pinned-memory budget on each host", "64M");
        var provider = SharedOptions.Provider();
        var load = GuestLoadOption.Create();
        var json = new Option<bool>("--json") { Description = "no live display; print the summary as JSON" };
        var command = new Command("demo",
            "Live migration of a real guest: two QEMU processes (patched, TCG) on this host, a guest that keeps rewriting its RAM " +
            "(the page writer, or Linux with --load linux), migrated over rdma-cs with a live display (phase, round, throughput, pinned bytes against the budget, " +
            "backlog), its memory verified byte for byte, and the same guest migrated with QEMU's own tcp: for comparison. " +
            "Builds the plugin and QEMU first when they are not built.")
        {
            memory, budget, provider, load, json,
        };
        command.SetAction(parse => QemuDemo.Run(new QemuDemo.Settings(memory.Get(parse), budget.Get(parse), parse.GetValue(provider)!,
            parse.GetValue(load)!, GuestLoadOption.Resolve(parse.GetValue(load)!, memory.Get(parse)), parse.GetValue(json))));
        command.Subcommands.Add(ProcessesDemo());
        return command;
    }

    private static Command ProcessesDemo()
    {
        var size = new SizeOption("--size", "memory region to migrate", "512M");
        var budget = new SizeOption("--budget", "pinned-memory budget", "64M");
        var maxBlock = SizeOption.MaxBlock();
        var dirtyRate = SharedOptions.DirtyRate();
        var rounds = SharedOptions.Rounds();
        var provider = SharedOptions.Provider();
        var inProcess = new Option<bool>("--in-process")
        {
            Description = "no network: the engine over an in-process memory fabric (for watching the engine alone)",
        };
        var json = new Option<bool>("--json") { Description = "no live display; print the summary as JSON" };
        var command = new Command("processes",
            "Live transfer of a memory region that a writer thread keeps dirtying: this process is the source, a `rdmacs serve` " +
            "child process on loopback the destination, and libfabric (tcp here, verbs on RDMA NICs) carries the RDMA writes. " +
            "Rounds of designate → select → register → write → flush, then the writer stops, the rest is sent, and both sides " +
            "compare every page's hash.")
        {
            size, budget, maxBlock, dirtyRate, rounds, provider, inProcess, json,
        };
        command.SetAction(parse =>
        {
            if (parse.GetValue(inProcess))
            {
                return LiveTransferDemo.Run(new LiveTransferDemo.Settings(size.Get(parse), budget.Get(parse), maxBlock.GetMaxBlock(parse, budget.Get(parse)),
                    parse.GetValue(dirtyRate), parse.GetValue(rounds), parse.GetValue(json)));
            }
            long maxBlockBytes = maxBlock.GetMaxBlock(parse, budget.Get(parse));
            if (EngineOptionsFromCommandLine.Create("demo processes", size.Get(parse), budget.Get(parse), maxBlockBytes) is null)
            {
                return 2; // before a receiver is started for nothing
            }
            string token = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
            using var receiver = new ReceiverProcess(size.Get(parse), token, budget.Get(parse)); // the same budget on both hosts
            int port = receiver.WaitForPort(TimeSpan.FromSeconds(60));
            if (!parse.GetValue(json))
            {
                Console.Out.WriteLine($"rdmacs demo: destination is `rdmacs serve` (pid {receiver.Pid}) on 127.0.0.1:{port}");
            }
            return SendRunner.Run(new SendRunner.Settings(new HostPort("127.0.0.1", port), size.Get(parse), budget.Get(parse),
                maxBlockBytes, parse.GetValue(dirtyRate), parse.GetValue(rounds), token, parse.GetValue(provider)!, parse.GetValue(json), "demo processes"));
        });
        return command;
    }
}
