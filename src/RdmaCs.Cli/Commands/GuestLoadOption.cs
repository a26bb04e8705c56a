using System.CommandLine;
using RdmaCs.Qemu;

namespace RdmaCs.Cli.Commands;

/// <summary>--load: what the test guest does while it is migrated.</summary>
internal static class GuestLoadOption
{
    public static Option<GuestLoad> Create() => new("--load")
    {
        Description = "the guest's load: busy (all RAM filled, then 64 MiB rewritten continuously), idle (8 MiB rewritten, the " +
                      "rest of RAM zero), or all (every page rewritten continuously: converges only by chance)",
        DefaultValueFactory = _ => GuestLoad.Busy,
        HelpName = "busy|idle|all",
        CustomParser = result => (result.Tokens.Count == 1 ? result.Tokens[0].Value : "") switch
        {
            "busy" => GuestLoad.Busy,
            "idle" => GuestLoad.Idle,
            "all" => GuestLoad.AllMemory,
            var other => Fail(result, other),
        },
    };

    private static GuestLoad Fail(System.CommandLine.Parsing.ArgumentResult result, string value)
    {
        result.AddError($"--load: '{value}' is not busy, idle or all");
        return GuestLoad.Busy;
    }
}
