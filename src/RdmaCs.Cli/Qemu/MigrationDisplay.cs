using RdmaCs.Configuration;
using RdmaCs.Qemu;

namespace RdmaCs.Cli.Qemu;

/// <summary>
/// The live view of one QEMU migration: on a terminal, one line redrawn at each poll (phase and round, throughput,
/// pinned bytes against the budget, backlog, what remains); when the output is a file or a pipe, one line per round.
/// </summary>
internal sealed class MigrationDisplay(string name)
{
    private readonly bool _live = !Console.IsOutputRedirected;
    private long _lastRound = -1;
    private long _lastBytes;
    private TimeSpan _lastTime;
    private bool _drawn;

    public void Show(MigrationProgress progress)
    {
        double seconds = Math.Max((progress.Elapsed - _lastTime).TotalSeconds, 1e-3);
        long moved = progress.BudgetBytes > 0 ? progress.MovedBytes : progress.TransferredBytes;
        double rate = Math.Max(0, moved - _lastBytes) / seconds;
        _lastBytes = moved;
        _lastTime = progress.Elapsed;
        string phase = $"{progress.Status}, round {progress.Round}";
        string pinned = progress.BudgetBytes > 0
            ? $"pinned [{Bar(progress.PinnedBytes, progress.BudgetBytes)}] {ByteSize.FormatApproximate(progress.PinnedBytes),9} / {ByteSize.FormatApproximate(progress.BudgetBytes)}  backlog {progress.BacklogPages,6} pages"
            : $"VmLck {ByteSize.FormatApproximate(progress.LockedBytes),9}";
        string line = $"  {name,-8} {phase,-20} {ByteSize.FormatApproximate(rate),10}/s  {pinned}  remaining {ByteSize.FormatApproximate(progress.RemainingBytes),9}";
        if (_live)
        {
            Console.Out.Write($"\r{line}  ");
            _drawn = true;
        }
        else if (progress.Round != _lastRound)
        {
            Console.Out.WriteLine(line);
        }
        _lastRound = progress.Round;
    }

    public void Finish()
    {
        if (_drawn)
        {
            Console.Out.WriteLine();
        }
    }

    private static string Bar(long value, long full)
    {
        int filled = (int)Math.Clamp(Math.Round(20.0 * value / full), 0, 20);
        return new string('#', filled) + new string('.', 20 - filled);
    }
}
