using System.Text.RegularExpressions;

namespace RdmaCs.Qemu;

/// <summary>
/// The Linux test guest: Debian 12's kernel (build/linux/vmlinuz, from scripts/fetch-linux-kernel.sh) booted with an
/// initramfs holding nothing but memcheck-init (tests/guest/memcheck-init.c). The program rewrites and checks
/// <paramref name="CheckedBytes"/> of memory sweep after sweep, some pages turning zero and back, one in five never
/// touched, and says on the serial console whether each sweep found every page as it left it. A real kernel's memory
/// (page tables, page cache, slab) dirtied the way a real guest dirties it, checked by the guest itself.
/// </summary>
/// <param name="CheckedBytes">Memory the program maps and checks (the guest needs about 200 MiB more for the kernel).</param>
/// <param name="RandomOrder">Rewrite the pages in a new random order each sweep instead of ascending.</param>
public sealed partial record LinuxGuest(long CheckedBytes, bool RandomOrder = false) : GuestImage
{
    /// <summary>Guest RAM beyond <see cref="CheckedBytes"/> the kernel and its init need.</summary>
    public const long KernelBytes = 256L << 20;

    /// <summary>The kernel's command line: the serial console, no reboot on panic, and the program's settings.</summary>
    public string CommandLine =>
        $"console=ttyS0 panic=-1 quiet rdinit=/init memcheck_mib={CheckedBytes >> 20}{(RandomOrder ? " memcheck_order=random" : "")}";

    /// <summary>The initramfs (written first when missing or older than the program).</summary>
    public string InitramfsPath => Initramfs.Ensure();

    public override IEnumerable<string> QemuArguments(string consoleLog) =>
    [
        "-kernel", QemuPaths.LinuxKernel, "-initrd", InitramfsPath, "-append", CommandLine,
        "-chardev", $"file,id=console,path={consoleLog}", "-serial", "chardev:console",
    ];

    public override IEnumerable<(string File, string BuiltBy)> RequiredFiles =>
        [(QemuPaths.LinuxKernel, "scripts/fetch-linux-kernel.sh"), (QemuPaths.MemcheckInit, "scripts/build-native.sh")];

    public override string ToString() =>
        $"Linux, checking {CheckedBytes >> 20} MiB{(RandomOrder ? " in random order" : "")}";

    /// <summary>What the guest has said on <paramref name="machine"/>'s console so far.</summary>
    public static GuestReport Report(QemuMachine machine) => Report(machine.ConsoleLog);

    /// <summary>What the guest has said so far on the console that goes to <paramref name="consoleLog"/>.</summary>
    public static GuestReport Report(string consoleLog)
    {
        string text;
        try
        {
            using var reader = new FileStream(consoleLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            text = new StreamReader(reader).ReadToEnd();
        }
        catch (FileNotFoundException)
        {
            text = "";
        }
        long[] clean = [.. CleanSweep().Matches(text).Select(m => long.Parse(m.Groups[1].Value))];
        string[] corrupt = [.. Corrupt().Matches(text).Select(m => m.Value.TrimEnd())];
        return new GuestReport(text.Contains("memcheck: ready"), clean, corrupt, text);
    }

    /// <summary>
    /// Waits until <paramref name="machine"/>'s guest has reported <paramref name="sweeps"/> more sweeps than
    /// <paramref name="after"/> says (or any corruption); the report then, or null when <paramref name="timeout"/> passed.
    /// </summary>
    public static GuestReport? WaitForSweeps(QemuMachine machine, int sweeps, TimeSpan timeout, GuestReport? after = null) =>
        WaitForSweeps(machine.ConsoleLog, sweeps, timeout, () => machine.HasExited, after);

    /// <summary>As above, for a console in <paramref name="consoleLog"/>; <paramref name="gone"/> says when to stop waiting early.</summary>
    public static GuestReport? WaitForSweeps(string consoleLog, int sweeps, TimeSpan timeout, Func<bool> gone, GuestReport? after = null)
    {
        int seen = after?.CleanSweeps.Count ?? 0;
        DateTime deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            GuestReport report = Report(consoleLog);
            if (report.Corruption.Count > 0 || report.CleanSweeps.Count >= seen + sweeps)
            {
                return report;
            }
            if (DateTime.UtcNow > deadline || gone())
            {
                return null;
            }
            Thread.Sleep(200);
        }
    }

    [GeneratedRegex(@"memcheck: sweep (\d+) clean")]
    private static partial Regex CleanSweep();

    [GeneratedRegex(@"memcheck: (CORRUPT .*|sweep \d+ found .*)")]
    private static partial Regex Corrupt();
}

/// <summary>What the Linux guest's console said: whether it started, the sweeps it found clean, any corruption.</summary>
public sealed record GuestReport(bool Ready, IReadOnlyList<long> CleanSweeps, IReadOnlyList<string> Corruption, string Console)
{
    public long LastCleanSweep => CleanSweeps.Count > 0 ? CleanSweeps[^1] : 0;

    /// <summary>The console's last lines, for a failure message.</summary>
    public string Tail => string.Join("\n", Console.Split('\n').TakeLast(15));
}
