using System.Diagnostics;
using RdmaCs.Fabric.Memory;
using RdmaCs.Transfer;

namespace RdmaCs.Cli.Demo;

/// <summary>
/// Stands in for a running guest: rewrites whole pages of one RAM block at a steady rate (mostly in a hot set,
/// sometimes anywhere) and designates each, as QEMU's dirty log would.
/// </summary>
internal sealed class DirtyingWriter(RamBlock block, TransferEngine engine, int pagesPerSecond) : IDisposable
{
    private volatile bool _stopping;
    private long _rewrites;
    private Thread? _running;

    public long Rewrites => Interlocked.Read(ref _rewrites);

    public void Start()
    {
        _running = new Thread(Run) { IsBackground = true, Name = "dirtying-writer" };
        _running.Start();
    }

    /// <summary>Stops the writer ("pauses the guest") and returns once it no longer writes.</summary>
    public void Stop()
    {
        _stopping = true;
        _running?.Join();
    }

    public void Dispose() => Stop();

    private unsafe void Run()
    {
        if (pagesPerSecond == 0)
        {
            return;
        }
        var random = new Random(7);
        int pageSize = engine.PageSize;
        long pages = block.Length / pageSize;
        long hotPages = Math.Max(1, pages / 8);
        long started = Stopwatch.GetTimestamp();
        int version = 1;
        while (!_stopping)
        {
            // Pace: never ahead of pagesPerSecond since the start.
            if (Stopwatch.GetElapsedTime(started).TotalSeconds < (double)Rewrites / pagesPerSecond)
            {
                Thread.Sleep(1);
                continue;
            }
            long page = random.Next(4) == 0 ? random.NextInt64(pages) : random.NextInt64(hotPages);
            PagePattern.Fill(new Span<byte>((byte*)block.Address + page * pageSize, pageSize), 0, page, ++version);
            engine.DesignatePage(0, page);
            Interlocked.Increment(ref _rewrites);
        }
    }
}
