namespace RdmaCs.Memory;

/// <summary>
/// The pinned-memory budget: bytes are reserved before they are pinned and released after they are
/// unpinned, so the number of pinned bytes can never exceed <see cref="Capacity"/>, not even transiently.
/// Lock-free and overflow-safe; a request larger than the whole budget is rejected up front.
/// </summary>
public sealed class PinnedMemoryBudget
{
    private long _reserved; // bytes reserved now (pinned, or about to be pinned)
    private long _peak;     // highest value _reserved has ever had

    public PinnedMemoryBudget(long capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Capacity = capacity;
    }

    /// <summary>The budget: the most bytes that may be reserved at once.</summary>
    public long Capacity { get; }

    public long Reserved => Volatile.Read(ref _reserved);

    public long Peak => Volatile.Read(ref _peak);

    public long Available => Capacity - Reserved;

    /// <summary>Reserves <paramref name="bytes"/> if they fit; never blocks.</summary>
    public bool TryReserve(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        if (bytes > Capacity)
        {
            return false;
        }
        long current = Volatile.Read(ref _reserved);
        while (true)
        {
            // Written as a subtraction so that it cannot overflow.
            if (current > Capacity - bytes)
            {
                return false;
            }
            long seen = Interlocked.CompareExchange(ref _reserved, current + bytes, current);
            if (seen == current)
            {
                UpdatePeak(current + bytes);
                return true;
            }
            current = seen;
        }
    }

    /// <summary>Returns bytes reserved earlier. Releasing more than is reserved is a bug and throws.</summary>
    public void Release(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        long after = Interlocked.Add(ref _reserved, -bytes);
        if (after < 0)
        {
            Interlocked.Add(ref _reserved, bytes);
            throw new InvalidOperationException($"released {bytes} bytes but only {after + bytes} were reserved");
        }
    }

    private void UpdatePeak(long candidate)
    {
        long peak = Volatile.Read(ref _peak);
        while (candidate > peak)
        {
            long seen = Interlocked.CompareExchange(ref _peak, candidate, peak);
            if (seen == peak)
            {
                return;
            }
            peak = seen;
        }
    }
}
