using RdmaCs.Configuration;
using RdmaCs.Statistics;
using RdmaCs.Transfer;

namespace RdmaCs.Cli.Demo;

/// <summary>
/// The live display: on a terminal, one line redrawn a few times a second (phase, throughput, pinned bytes
/// against the budget, backlog); when the output is a file or a pipe, one line per finished round instead.
/// </summary>
internal sealed class ProgressLine : IDisposable
{
    private readonly TransferEngine _engine;
    private readonly bool _live = !Console.IsOutputRedirected;
    private readonly Timer? _timer;
    private readonly object _lock = new();
    private string _phase = "starting";
    private long _lastBytes;
    private DateTime _lastTime = DateTime.UtcNow;
    private bool _finished;

    public ProgressLine(TransferEngine engine)
    {
        _engine = engine;
        if (_live)
        {
            _timer = new Timer(_ => Draw(), null, TimeSpan.Zero, TimeSpan.FromMilliseconds(200));
        }
    }

    public void SetPhase(string phase)
    {
        lock (_lock)
        {
            _phase = phase;
        }
    }

    public void RoundDone(int round, long bytes, TimeSpan time)
    {
        if (!_live)
        {
            EngineStatistics s = _engine.Statistics;
            Console.Out.WriteLine(
                $"  round {round}: {ByteSize.FormatApproximate(bytes)} in {time.TotalMilliseconds:0} ms, " +
                $"pinned {ByteSize.FormatApproximate(s.PinnedBytes)} / {ByteSize.FormatApproximate(s.BudgetBytes)}, backlog {s.DesignatedPages} pages");
        }
    }

    public void Finish()
    {
        lock (_lock)
        {
            if (_finished)
            {
                return;
            }
            _finished = true;
        }
        _timer?.Dispose();
        if (_live)
        {
            Draw(final: true);
            Console.Out.WriteLine();
        }
    }

    public void Dispose() => Finish();

    private void Draw(bool final = false)
    {
        lock (_lock)
        {
            if (_finished && !final)
            {
                return;
            }
            EngineStatistics s = _engine.Statistics;
            DateTime now = DateTime.UtcNow;
            double seconds = Math.Max((now - _lastTime).TotalSeconds, 1e-3);
            double rate = (s.BytesWritten - _lastBytes) / seconds;
            _lastBytes = s.BytesWritten;
            _lastTime = now;
            int filled = (int)Math.Round(20.0 * s.PinnedBytes / s.BudgetBytes);
            string bar = new string('#', filled) + new string('.', 20 - filled);
            Console.Out.Write(
                $"\r  {_phase,-28} {ByteSize.FormatApproximate(rate),10}/s  pinned [{bar}] {ByteSize.FormatApproximate(s.PinnedBytes),9} / " +
                $"{ByteSize.FormatApproximate(s.BudgetBytes)}  backlog {s.DesignatedPages,7} pages  sent {ByteSize.FormatApproximate(s.BytesWritten),9}  ");
        }
    }
}
