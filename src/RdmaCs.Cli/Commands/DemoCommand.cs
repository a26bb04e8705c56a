using System.CommandLine;
using RdmaCs.Cli.Demo;

namespace RdmaCs.Cli.Commands;

/// <summary><c>rdmacs demo</c>: the main job, a live transfer you can watch.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var size = new SizeOption("--size", "memory region to migrate", "512M");
        var budget = new SizeOption("--budget", "pinned-memory budget", "64M");
        var maxBlock = new SizeOption("--max-block", "largest block one registration and write covers", "1M");
        var dirtyRate = CountOption.Create("--dirty-rate", "pages per second the writer rewrites while the transfer runs", 20_000, minimum: 0);
        var rounds = CountOption.Create("--rounds", "live rounds before the writer is stopped for the final pass", 5, minimum: 1);
        var json = new Option<bool>("--json") { Description = "no live display; print the summary as JSON" };
        var command = new Command("demo",
            "Live transfer of a memory region that a writer thread keeps dirtying, by the budgeted engine: rounds of " +
            "designate → select → register → write → flush, then the writer stops, the rest is sent, and the two copies " +
            "are compared page by page. (The in-process memory fabric stands in for the network until the libfabric " +
            "transport lands.)")
        {
            size, budget, maxBlock, dirtyRate, rounds, json,
        };
        command.SetAction(parse => LiveTransferDemo.Run(new LiveTransferDemo.Settings(
            size.Get(parse), budget.Get(parse), maxBlock.Get(parse),
            parse.GetValue(dirtyRate), parse.GetValue(rounds), parse.GetValue(json))));
        return command;
    }
}
