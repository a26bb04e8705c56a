using System.CommandLine;
using RdmaCs.Cli.Remote;

namespace RdmaCs.Cli.Commands;

/// <summary><c>rdmacs serve</c> and <c>rdmacs send</c>: the two ends of a live transfer over libfabric.</summary>
internal static class RemoteCommands
{
    public static Command Serve()
    {
        var listen = SharedOptions.Endpoint("--listen", "address and control port to listen on (port 0: any)");
        var size = new SizeOption("--size", "RAM to expose to the source (one block, ram0)", "512M");
        var budget = new SizeOption("--budget", "most RAM registered (pinned) at once on this host, in windows the source asks for", "64M");
        var token = SharedOptions.Token();
        var tokenFile = SharedOptions.TokenFile();
        var provider = SharedOptions.Provider();
        var once = new Option<bool>("--once") { Description = "exit after one session: 0 if it was verified, 1 otherwise" };
        var json = new Option<bool>("--json") { Description = "print each session's result as one JSON line" };
        var command = new Command("serve",
            "Destination of live transfers: admits a source that presents the token and a matching RAM block table, exposes " +
            "its RAM for RDMA writes in windows registered on demand, never more than --budget at once, revokes access when " +
            "the source is done, and reports page hashes for verification. " +
            "Sessions run one after another; a failed one releases everything and the server listens on.")
        {
            listen, size, budget, token, tokenFile, provider, once, json,
        };
        command.SetAction(parse =>
        {
            string? secret = SharedOptions.ReadToken(parse, token, tokenFile, out string? error);
            if (secret is null)
            {
                Console.Error.WriteLine($"rdmacs serve: {error}");
                return 2;
            }
            return ServeRunner.Run(new ServeRunner.Settings(parse.GetValue(listen), size.Get(parse), budget.Get(parse), secret,
                parse.GetValue(provider)!, parse.GetValue(once), parse.GetValue(json)));
        });
        return command;
    }

    public static Command Send()
    {
        var to = SharedOptions.Endpoint("--to", "control address of the destination (rdmacs serve)");
        var size = new SizeOption("--size", "RAM to migrate (one block, ram0; must equal the destination's)", "512M");
        var budget = new SizeOption("--budget", "pinned-memory budget", "64M");
        var maxBlock = SizeOption.MaxBlock();
        var dirtyRate = SharedOptions.DirtyRate();
        var rounds = SharedOptions.Rounds();
        var token = SharedOptions.Token();
        var tokenFile = SharedOptions.TokenFile();
        var provider = SharedOptions.Provider();
        var json = new Option<bool>("--json") { Description = "no live display; print the summary as JSON" };
        var command = new Command("send",
            "Source of a live transfer: migrates a RAM region that a writer thread keeps dirtying to `rdmacs serve`, over " +
            "libfabric, with pinned memory bounded by the budget; then both sides compare every page's hash.")
        {
            to, size, budget, maxBlock, dirtyRate, rounds, token, tokenFile, provider, json,
        };
        command.SetAction(parse =>
        {
            string? secret = SharedOptions.ReadToken(parse, token, tokenFile, out string? error);
            if (secret is null)
            {
                Console.Error.WriteLine($"rdmacs send: {error}");
                return 2;
            }
            return SendRunner.Run(new SendRunner.Settings(parse.GetValue(to), size.Get(parse), budget.Get(parse), maxBlock.GetMaxBlock(parse, budget.Get(parse)),
                parse.GetValue(dirtyRate), parse.GetValue(rounds), secret, parse.GetValue(provider)!, parse.GetValue(json)));
        });
        return command;
    }
}
