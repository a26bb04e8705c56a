namespace RdmaCs.Configuration;

/// <summary>How the transfer engine may use pinned memory and the fabric. Validate with <see cref="Validate"/>.</summary>
public sealed record EngineOptions
{
    /// <summary>Upper bound on bytes registered (pinned) by the engine at any instant: in-flight plus cached registrations.</summary>
    public long BudgetBytes { get; init; } = 64L << 20;

    /// <summary>
    /// Largest block one registration and one write may cover; selection coalesces adjacent pages up to it, and
    /// blocks are aligned to it. 2 MiB by default: a transparent huge page, which guest RAM is usually backed by;
    /// locking part of one splits it (measured here: 1 MiB blocks made the first pass over THP memory 5x slower).
    /// </summary>
    public long MaxBlockBytes { get; init; } = DefaultMaxBlockBytes;

    public const long DefaultMaxBlockBytes = 2L << 20;

    /// <summary>The default max block for a budget: 2 MiB, or the whole budget when that is smaller.</summary>
    public static long DefaultMaxBlockFor(long budgetBytes) => Math.Clamp(budgetBytes, 1, DefaultMaxBlockBytes);

    /// <summary>Size of a guest page, the unit of designation. A power of two.</summary>
    public int PageSize { get; init; } = 4096;

    /// <summary>
    /// On fabrics whose registration does not pin (tcp, the in-memory fabric), <c>mlock</c> what is registered and
    /// <c>munlock</c> what is deregistered, so the budget is real and visible as <c>VmLck</c>.
    /// </summary>
    public bool LockMemoryOnSoftwareFabrics { get; init; } = true;

    /// <summary>Keep idle registrations while the budget allows, so later writes into them skip registration.</summary>
    public bool RegistrationCache { get; init; } = true;

    /// <summary>
    /// Threads that register and deregister. 1: the worker does it between its writes (enough where registering is cheap:
    /// software fabrics, and NICs up to about 60 Gb/s). More: a pool of that many registers the next chunks ahead of
    /// the worker and deregisters for it, so that registration keeps up with a faster link. 0 (the default): 1 on
    /// software fabrics; on a NIC, what docs/hardware.md's model gives for the link speed the NIC reports
    /// (<see cref="RegistrationModel.ThreadsFor(double)"/>), or 2 when it reports none.
    /// </summary>
    public int RegistrationThreads { get; init; }

    /// <summary>Most writes posted and not yet completed at once (the send queue depth the engine uses).</summary>
    public int MaxWritesInFlight { get; init; } = 64;

    /// <summary>
    /// Pages found all-zero when selected are sent as zero ranges (the destination clears them) instead of being
    /// registered and written. Most of an idle guest's RAM is zero.
    /// </summary>
    public bool ZeroPagesAsRanges { get; init; } = true;

    /// <summary>
    /// Fewest zero pages in a row, all touched, worth a zero range of their own; shorter stretches inside data are
    /// written with it (pages never touched always go as ranges). A zero range costs a round trip on the control
    /// connection; 64 KiB written costs about as much on loopback and less on an RDMA NIC.
    /// </summary>
    public int MinZeroRangePages { get; init; } = 16;

    /// <summary>
    /// Most clean pages one write may carry across to reach the next designated run in the same registration: a
    /// write costs the provider about as much as a few pages of bandwidth, so scattered dirty pages (a guest writing
    /// at random) go in fewer, longer writes. A clean page's current content is never wrong to send. 0: never.
    /// </summary>
    public int MaxGapPages { get; init; } = 4;

    /// <summary>How long a failing engine waits for posted writes to complete before it deregisters regardless.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Throws <see cref="EngineConfigurationException"/> with a message an operator can act on.</summary>
    public void Validate()
    {
        if (PageSize <= 0 || (PageSize & (PageSize - 1)) != 0)
        {
            throw new EngineConfigurationException($"page size {PageSize} is not a power of two");
        }
        if (LockMemoryOnSoftwareFabrics && PageSize < Environment.SystemPageSize)
        {
            // mlock works on whole host pages: two engine pages sharing one host page would unlock each other.
            throw new EngineConfigurationException(
                $"page size {PageSize} is smaller than the host page size {Environment.SystemPageSize}; memory locking needs whole host pages");
        }
        if (BudgetBytes < PageSize)
        {
            throw new EngineConfigurationException(
                $"budget {ByteSize.Format(BudgetBytes)} is smaller than one page ({ByteSize.Format(PageSize)}): nothing could ever be registered");
        }
        if (MaxBlockBytes < PageSize || MaxBlockBytes % PageSize != 0)
        {
            throw new EngineConfigurationException(
                $"max block {ByteSize.Format(MaxBlockBytes)} must be a whole number of pages ({ByteSize.Format(PageSize)}) and at least one");
        }
        if (MaxBlockBytes > BudgetBytes)
        {
            throw new EngineConfigurationException(
                $"max block {ByteSize.Format(MaxBlockBytes)} is larger than the budget {ByteSize.Format(BudgetBytes)}");
        }
        if (MaxBlockBytes / PageSize > int.MaxValue)
        {
            throw new EngineConfigurationException($"max block {ByteSize.Format(MaxBlockBytes)} is too large");
        }
        if (MaxGapPages < 0)
        {
            throw new EngineConfigurationException($"the longest gap a write bridges cannot be negative ({MaxGapPages} pages)");
        }
        if (MinZeroRangePages < 1)
        {
            throw new EngineConfigurationException($"the shortest zero range must be at least 1 page, not {MinZeroRangePages}");
        }
        if (RegistrationThreads is < 0 or > 64)
        {
            throw new EngineConfigurationException($"registering threads must be 1 to 64 (0: automatic), not {RegistrationThreads}");
        }
        if (MaxWritesInFlight < 1)
        {
            throw new EngineConfigurationException($"writes in flight must be at least 1, not {MaxWritesInFlight}");
        }
        if (DrainTimeout < TimeSpan.Zero)
        {
            throw new EngineConfigurationException("drain timeout must not be negative");
        }
    }

    public int PagesPerBlock => (int)(MaxBlockBytes / PageSize);

    /// <summary>
    /// These options with blocks that tile the destination's windows of <paramref name="windowBytes"/> (a power of two; 0:
    /// none) and are no larger than the provider's largest RMA, <paramref name="maxWriteBytes"/>: the max block unchanged
    /// when it does both, else the largest power of two below all three (and at least a page).
    /// </summary>
    public EngineOptions FittedTo(long windowBytes, long maxWriteBytes = long.MaxValue)
    {
        bool tiles = windowBytes <= 0 || windowBytes % MaxBlockBytes == 0;
        if (tiles && MaxBlockBytes <= maxWriteBytes)
        {
            return this;
        }
        long limit = Math.Min(MaxBlockBytes, Math.Min(windowBytes <= 0 ? long.MaxValue : windowBytes, Math.Max(maxWriteBytes, 1)));
        long block = 1L << System.Numerics.BitOperations.Log2((ulong)limit);
        return this with { MaxBlockBytes = Math.Max(block, PageSize) };
    }
}

/// <summary>An engine option, RAM block table or fabric combination that cannot work, with the reason.</summary>
public sealed class EngineConfigurationException(string message) : Exception(message);
