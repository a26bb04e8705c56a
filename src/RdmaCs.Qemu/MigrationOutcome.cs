using System.Text.Json.Nodes;

namespace RdmaCs.Qemu;

/// <summary>How a migration ended, in QEMU's own figures and the kernel's count of pinned memory.</summary>
public sealed record MigrationOutcome
{
    public required MigrationSettings Settings { get; init; }

    /// <summary>"completed", "failed" or "cancelled" (or the last status seen when the wait timed out).</summary>
    public required string Status { get; init; }

    /// <summary>QEMU's error description when it failed.</summary>
    public string? Error { get; init; }

    public bool Completed => Status == "completed";

    public long TotalMs { get; init; }
    public long DowntimeMs { get; init; }
    public long SetupMs { get; init; }
    public long TransferredBytes { get; init; }
    public long NormalPages { get; init; }
    public long ZeroPages { get; init; }
    public long Rounds { get; init; }

    /// <summary>The highest VmLck of the source QEMU sampled during the migration, and VmLck once it ended.</summary>
    public long PeakLockedBytes { get; init; }
    public long LockedAfterBytes { get; init; }
    public int LockedSamples { get; init; }

    /// <summary>The same of the destination QEMU, which holds the windows of guest RAM the source writes into.</summary>
    public long DestinationPeakLockedBytes { get; init; }
    public long DestinationLockedAfterBytes { get; init; }
    public int DestinationLockedSamples { get; init; }

    /// <summary>rdma-cs only: the source's query-rdma-cs at the end.</summary>
    public JsonNode? RdmaCs { get; init; }

    /// <summary>rdma-cs only: the destination's query-rdma-cs at the end (its budget, peak pinned, registrations).</summary>
    public JsonNode? DestinationRdmaCs { get; init; }

    /// <summary>
    /// CPU seconds each thread of the source and of the destination QEMU spent from <c>migrate</c> to the end, by thread
    /// name, most first (see <see cref="ThreadCpuSampler"/>): vCPUs, QEMU's migration thread, the plugin's threads.
    /// </summary>
    public IReadOnlyList<(string Thread, double Seconds)> SourceCpu { get; init; } = [];
    public IReadOnlyList<(string Thread, double Seconds)> DestinationCpu { get; init; } = [];

    /// <summary>Every progress sample, for plots.</summary>
    public IReadOnlyList<MigrationProgress> Timeline { get; init; } = [];
}
