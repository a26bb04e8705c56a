using System.Collections.Concurrent;
using System.Diagnostics;
using RdmaCs.Fabric;

namespace RdmaCs.Cli.Bench.Model;

/// <summary>What a simulated NIC is: its link rate, a latency per write, and what registering and deregistering cost per MiB.</summary>
internal sealed record SimulatedHardware(double LinkBitsPerSecond, TimeSpan WriteLatency, TimeSpan RegistrationPerMiB, TimeSpan DeregistrationPerMiB)
{
    public double LinkBytesPerSecond => LinkBitsPerSecond / 8;
}

/// <summary>
/// A NIC as a model, for the engine to run against (<c>rdmacs bench model</c>): registering costs the calling thread its
/// time per MiB (the kernel pinning the pages, the NIC mapping them), the link carries one write at a time at its rate,
/// and each write completes a fixed latency after its last byte left. Nothing is copied or read. Every time runs
/// <paramref name="slowdown"/> times slower than the hardware's, so that the waits are long enough for the operating
/// system to keep (milliseconds, not microseconds); the benchmark divides measured times by it again.
/// </summary>
internal sealed partial class SimulatedFabric : IFabric, IDisposable
{
    private readonly SimulatedHardware _hardware;
    private readonly double _slowdown;
    private readonly object _link = new();
    private long _linkFreeAt; // Stopwatch timestamp when the link has sent everything posted
    private readonly ConcurrentQueue<(long Due, ulong Context)> _inFlight = new(); // due times only grow: a queue suffices
    private readonly ConcurrentQueue<FabricCompletion> _completed = new();
    private readonly AutoResetEvent _posted = new(false);
    private readonly Thread _completer;
    private volatile bool _stopping;
    private Action? _callback;
    private long _nextKey;

    public SimulatedFabric(SimulatedHardware hardware, double slowdown)
    {
        _hardware = hardware;
        _slowdown = slowdown;
        _completer = new Thread(Complete) { IsBackground = true, Name = "simulated-nic" };
        _completer.Start();
    }

    public string Name => "simulated";
    public bool RegistrationPins => true;
    public double LinkBitsPerSecond => _hardware.LinkBitsPerSecond;
    public long PinnedForItselfBytes => 0;
    public bool OrdersWrites => true;
    public int MaxWriteSegments => 1;
    public long RemoteWindowBytes => 0;
    public int PrefetchWindows => 0;

    public void Prefetch(int ramBlock, long remoteOffset)
    {
    }

    public FabricRegistration Register(nint address, long length)
    {
        Sleep(Ticks(_hardware.RegistrationPerMiB.TotalSeconds * length / (1 << 20)));
        return new FabricRegistration(address, length, (ulong)Interlocked.Increment(ref _nextKey));
    }

    public void Deregister(FabricRegistration registration) =>
        Sleep(Ticks(_hardware.DeregistrationPerMiB.TotalSeconds * registration.Length / (1 << 20)));

    public void PostWrite(FabricRegistration source, ReadOnlySpan<WriteSegment> segments, int ramBlock, ulong context)
    {
        long bytes = 0;
        foreach (WriteSegment segment in segments)
        {
            bytes += segment.Length;
        }
        lock (_link)
        {
            long start = Math.Max(Stopwatch.GetTimestamp(), _linkFreeAt);
            _linkFreeAt = start + Ticks(bytes / _hardware.LinkBytesPerSecond);
            _inFlight.Enqueue((_linkFreeAt + Ticks(_hardware.WriteLatency.TotalSeconds), context));
        }
        _posted.Set();
    }

    public void PostZero(int ramBlock, long remoteOffset, long length, ulong context) =>
        throw new FabricException("the simulated fabric models writes only: run the engine without zero ranges");

    public void SetCompletionCallback(Action? callback) => Volatile.Write(ref _callback, callback);

    public bool HasCompletions => !_completed.IsEmpty;

    public int PollCompletions(Span<FabricCompletion> completions)
    {
        int count = 0;
        while (count < completions.Length && _completed.TryDequeue(out FabricCompletion completion))
        {
            completions[count++] = completion;
        }
        return count;
    }

    public void Dispose()
    {
        _stopping = true;
        _posted.Set();
        _completer.Join();
        _posted.Dispose();
    }

    /// <summary>Hardware seconds as Stopwatch ticks of the slowed-down clock.</summary>
    private long Ticks(double hardwareSeconds) => (long)(hardwareSeconds * _slowdown * Stopwatch.Frequency);

    private void Complete()
    {
        while (!_stopping)
        {
            if (!_inFlight.TryPeek(out (long Due, ulong Context) next))
            {
                _posted.WaitOne(50);
                continue;
            }
            WaitUntil(next.Due);
            _inFlight.TryDequeue(out _);
            _completed.Enqueue(new FabricCompletion(next.Context));
            Volatile.Read(ref _callback)?.Invoke();
        }
    }

    /// <summary>
    /// A registering thread's cost: slept, not spun, so that several registering threads do not take the two cores the
    /// worker and the completions need. <c>nanosleep</c>, not Thread.Sleep, which drops what is below a millisecond; the
    /// kernel oversleeps by its timer slack (50 µs), a few percent of a slowed-down registration.
    /// </summary>
    private static void Sleep(long ticks)
    {
        if (ticks <= 0)
        {
            return;
        }
        long nanoseconds = (long)(ticks * (1e9 / Stopwatch.Frequency));
        var requested = new TimeSpec { Seconds = nanoseconds / 1_000_000_000, Nanoseconds = nanoseconds % 1_000_000_000 };
        // Two variables: the marshaller clears an out argument before the call, which would clear the request too.
        while (nanosleep(requested, out TimeSpec remaining) != 0 && System.Runtime.InteropServices.Marshal.GetLastPInvokeError() == Eintr)
        {
            requested = remaining;
        }
    }

    private const int Eintr = 4;

    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true)]
    private static partial int nanosleep(in TimeSpec requested, out TimeSpec remaining);

    /// <summary>The link's clock: sleeps most of the way, then yields until the moment (the OS keeps milliseconds, not microseconds).</summary>
    internal static void WaitUntil(long timestamp)
    {
        while (true)
        {
            long left = timestamp - Stopwatch.GetTimestamp();
            if (left <= 0)
            {
                return;
            }
            double milliseconds = left * 1000.0 / Stopwatch.Frequency;
            if (milliseconds > 1.5)
            {
                Thread.Sleep((int)(milliseconds - 1));
            }
            else
            {
                Thread.Yield();
            }
        }
    }
}
