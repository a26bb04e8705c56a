using System.CommandLine;
using RdmaCs.Cli.Commands;

namespace RdmaCs.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand(
            "rdmacs: live migration of guest RAM over RDMA with pinned memory bounded by a budget.\n" +
            "Run `./rdmacs <command> --help` for each command's options.");
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(RemoteCommands.Serve());
        root.Subcommands.Add(RemoteCommands.Send());
        root.Subcommands.Add(BenchCommand.Create());
        return root.Parse(args).Invoke();
    }
}
