using System.CommandLine;
using RdmaCs.Qemu;

namespace RdmaCs.Cli.Commands;

/// <summary>--load: what the test guest does while it is migrated (resolved with the guest's RAM size).</summary>
internal static class GuestLoadOption
{
    private static readonly string[] PageWriterLoads = ["busy", "idle", "all", "random"];

    /// <param name="linux">Whether the Linux guest may be chosen (not where a libvirt domain of the page writer is made).</param>
    public static Option<string> Create(bool linux = true)
    {
        var option = new Option<string>("--load")
        {
            Description = "the guest's load: busy (all RAM filled, then 64 MiB rewritten continuously), idle (8 MiB rewritten, the " +
                          "rest of RAM zero), all (every page rewritten continuously: converges only by chance), random (every page " +
                          "rewritten, in a scattered order)" +
                          (linux ? ", or linux (Debian's kernel running a program that rewrites and checks all but 256 MiB of the " +
                                   "guest's RAM, some pages turning zero, one in five never touched)" : ""),
            DefaultValueFactory = _ => "busy",
        };
        option.AcceptOnlyFromAmong(linux ? [.. PageWriterLoads, "linux"] : PageWriterLoads);
        return option;
    }

    /// <summary>The guest a --load value names, for a guest of <paramref name="memoryBytes"/>.</summary>
    public static GuestImage Resolve(string load, long memoryBytes) => load switch
    {
        "idle" => GuestLoad.Idle,
        "all" => GuestLoad.AllMemory,
        "random" => GuestLoad.Random,
        "linux" => new LinuxGuest(Math.Max(64L << 20, memoryBytes - LinuxGuest.KernelBytes)),
        _ => GuestLoad.Busy,
    };
}
