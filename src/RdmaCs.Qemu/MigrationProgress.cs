namespace RdmaCs.Qemu;

/// <summary>One look at a migration in progress, from the source's query-migrate (and query-rdma-cs) and its VmLck.</summary>
public sealed record MigrationProgress
{
    public required TimeSpan Elapsed { get; init; }
    public required string Status { get; init; }

    /// <summary>QEMU's dirty-bitmap syncs so far: the pre-copy round.</summary>
    public long Round { get; init; }

    public long TransferredBytes { get; init; }
    public long RemainingBytes { get; init; }
    public long TotalBytes { get; init; }

    /// <summary>QEMU's own throughput figure, in megabits per second.</summary>
    public double Mbps { get; init; }

    /// <summary>The source QEMU's VmLck: what the kernel says is pinned.</summary>
    public long LockedBytes { get; init; }

    /// <summary>rdma-cs only: the plugin's pinned bytes, budget and pages waiting.</summary>
    public long PinnedBytes { get; init; }
    public long BudgetBytes { get; init; }
    public long BacklogPages { get; init; }

    /// <summary>
    /// rdma-cs only: what has really moved, RDMA-written bytes plus pages sent as zero ranges (QEMU's own transferred
    /// figure counts a page when it is handed to the plugin).
    /// </summary>
    public long MovedBytes { get; init; }
}
