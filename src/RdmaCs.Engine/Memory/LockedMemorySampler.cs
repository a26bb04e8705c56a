using System.Diagnostics;

namespace RdmaCs.Memory;

/// <summary>
/// Samples a process's <c>VmLck</c> every few milliseconds on a thread of its own: the kernel's view of how
/// much is pinned, to hold the engine's own accounting against.
/// </summary>
public sealed class LockedMemorySampler : IDisposable
{
    private readonly int? _pid;
    private readonly TimeSpan _interval;
    private readonly Thread _thread;
    private readonly List<(TimeSpan At, long Bytes)> _samples = new(); // guarded by itself
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private volatile bool _stopping;
    private long _peak;

    public LockedMemorySampler(int? pid = null, TimeSpan? interval = null)
    {
        _pid = pid;
        _interval = interval ?? TimeSpan.FromMilliseconds(2);
        _thread = new Thread(Run) { IsBackground = true, Name = "vmlck-sampler" };
        _thread.Start();
    }

    /// <summary>The highest VmLck seen so far, in bytes.</summary>
    public long PeakBytes => Interlocked.Read(ref _peak);

    /// <summary>Every sample so far: time since the sampler started, and VmLck in bytes.</summary>
    public IReadOnlyList<(TimeSpan At, long Bytes)> Samples
    {
        get { lock (_samples) { return [.. _samples]; } }
    }

    /// <summary>Stops sampling after one last sample.</summary>
    public void Dispose()
    {
        _stopping = true;
        _thread.Join();
        Sample();
    }

    private void Run()
    {
        while (!_stopping)
        {
            Sample();
            Thread.Sleep(_interval);
        }
    }

    private void Sample()
    {
        long bytes;
        try
        {
            bytes = ProcessMemoryStatus.ReadLockedBytes(_pid);
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            return; // the process is gone, or a zombie (its status has no VmLck)
        }
        lock (_samples)
        {
            _samples.Add((_clock.Elapsed, bytes));
        }
        if (bytes > Interlocked.Read(ref _peak))
        {
            Interlocked.Exchange(ref _peak, bytes);
        }
    }
}
