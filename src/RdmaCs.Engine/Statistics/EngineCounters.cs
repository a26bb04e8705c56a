using System.Diagnostics;

namespace RdmaCs.Statistics;

/// <summary>
/// The engine's running counters. The worker is the only writer; any thread may read them, through
/// <see cref="TransferEngine.Statistics"/>. Interlocked so that a reader never sees a torn value.
/// </summary>
internal sealed class EngineCounters
{
    private long _registrations;        // registrations made (each pins a run)
    private long _deregistrations;      // registrations given up (each unpins a run)
    private long _registeredBytes;      // bytes registered, summed over all registrations
    private long _cacheHits;            // writes posted from a registration that already existed
    private long _evictions;            // idle cached registrations given up to make room
    private long _blocksWritten;        // writes completed successfully
    private long _bytesWritten;         // bytes those writes carried
    private long _writesInFlight;       // writes posted and not yet completed
    private long _bytesInFlight;        // bytes those writes (and zero ranges) cover
    private long _budgetWaitTicks;      // Stopwatch ticks spent with work to do but no budget for it
    private long _flushes;              // flushes completed
    private long _zeroPages;            // pages sent as zero ranges, completed
    private long _zeroRanges;           // zero ranges completed

    public long Registrations => Volatile.Read(ref _registrations);
    public long Deregistrations => Volatile.Read(ref _deregistrations);
    public long RegisteredBytes => Volatile.Read(ref _registeredBytes);
    public long CacheHits => Volatile.Read(ref _cacheHits);
    public long Evictions => Volatile.Read(ref _evictions);
    public long BlocksWritten => Volatile.Read(ref _blocksWritten);
    public long BytesWritten => Volatile.Read(ref _bytesWritten);
    public long WritesInFlight => Volatile.Read(ref _writesInFlight);
    public long BytesInFlight => Volatile.Read(ref _bytesInFlight);
    public TimeSpan BudgetWait => Stopwatch.GetElapsedTime(0, Volatile.Read(ref _budgetWaitTicks));
    public long Flushes => Volatile.Read(ref _flushes);
    public long ZeroPages => Volatile.Read(ref _zeroPages);
    public long ZeroRanges => Volatile.Read(ref _zeroRanges);

    public void Registered(long bytes)
    {
        Interlocked.Increment(ref _registrations);
        Interlocked.Add(ref _registeredBytes, bytes);
    }

    public void Deregistered() => Interlocked.Increment(ref _deregistrations);

    public void CacheHit() => Interlocked.Increment(ref _cacheHits);

    public void Evicted() => Interlocked.Increment(ref _evictions);

    /// <summary>A write or zero range of <paramref name="bytes"/> was posted.</summary>
    public void WritePosted(long bytes)
    {
        Interlocked.Increment(ref _writesInFlight);
        Interlocked.Add(ref _bytesInFlight, bytes);
    }

    public void WriteCompleted(long bytes, bool succeeded)
    {
        Interlocked.Decrement(ref _writesInFlight);
        Interlocked.Add(ref _bytesInFlight, -bytes);
        if (succeeded)
        {
            Interlocked.Increment(ref _blocksWritten);
            Interlocked.Add(ref _bytesWritten, bytes);
        }
    }

    public void ZeroCompleted(long pages, long bytes, bool succeeded)
    {
        Interlocked.Decrement(ref _writesInFlight);
        Interlocked.Add(ref _bytesInFlight, -bytes);
        if (succeeded)
        {
            Interlocked.Increment(ref _zeroRanges);
            Interlocked.Add(ref _zeroPages, pages);
        }
    }

    public void WaitedForBudget(long ticks) => Interlocked.Add(ref _budgetWaitTicks, ticks);

    public void Flushed() => Interlocked.Increment(ref _flushes);
}
