namespace RdmaCs.Statistics;

/// <summary>A snapshot of the engine's statistics; every figure is from the source side's engine.</summary>
public readonly record struct EngineStatistics
{
    /// <summary>The pinned-memory budget in bytes.</summary>
    public long BudgetBytes { get; init; }

    /// <summary>Bytes registered (pinned) right now: in-flight and cached registrations.</summary>
    public long PinnedBytes { get; init; }

    /// <summary>The most bytes ever registered at once; never above <see cref="BudgetBytes"/>.</summary>
    public long PeakPinnedBytes { get; init; }

    /// <summary>Registrations made.</summary>
    public long Registrations { get; init; }

    /// <summary>Registrations given up (unpinned).</summary>
    public long Deregistrations { get; init; }

    /// <summary>Bytes registered, summed over all registrations (registration work done).</summary>
    public long RegisteredBytes { get; init; }

    /// <summary>Writes that reused a registration instead of making one.</summary>
    public long CacheHits { get; init; }

    /// <summary>Idle cached registrations given up to make room in the budget.</summary>
    public long Evictions { get; init; }

    /// <summary>Writes completed.</summary>
    public long BlocksWritten { get; init; }

    /// <summary>Bytes carried by completed writes.</summary>
    public long BytesWritten { get; init; }

    /// <summary>Pages designated and not yet picked up by the selector.</summary>
    public long DesignatedPages { get; init; }

    /// <summary>Writes posted and not yet completed.</summary>
    public long WritesInFlight { get; init; }

    /// <summary>Time the selector had work but no room in the budget.</summary>
    public TimeSpan BudgetWait { get; init; }

    /// <summary>Flushes completed.</summary>
    public long Flushes { get; init; }

    /// <summary>Pages found all-zero and sent as zero ranges instead of being written.</summary>
    public long ZeroPages { get; init; }

    /// <summary>The zero ranges those pages went in.</summary>
    public long ZeroRanges { get; init; }

    /// <summary>Bytes designated or in flight: handed to the engine and not landed yet.</summary>
    public long BacklogBytes { get; init; }

    /// <summary>Bytes landed at the destination: carried by completed writes, or cleared as zero ranges.</summary>
    public long LandedBytes { get; init; }

    /// <summary>Null while healthy; the reason once the engine has failed.</summary>
    public string? Failure { get; init; }
}
