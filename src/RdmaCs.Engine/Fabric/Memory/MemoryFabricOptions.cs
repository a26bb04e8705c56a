namespace RdmaCs.Fabric.Memory;

/// <summary>How the in-process fabric behaves: its timing, its faults, and the checks it makes.</summary>
public sealed record MemoryFabricOptions
{
    /// <summary>Each write completes no sooner than this after it was posted.</summary>
    public TimeSpan CompletionDelay { get; init; } = TimeSpan.Zero;

    /// <summary>A random extra delay in [0, this] per write; with it, completions come out of order.</summary>
    public TimeSpan CompletionJitter { get; init; } = TimeSpan.Zero;

    /// <summary>Seed of the jitter, so that a failing run can be repeated.</summary>
    public int Seed { get; init; }

    /// <summary>The write with this number (1 = the first) completes with an error instead of copying.</summary>
    public long? FailingWrite { get; init; }

    /// <summary>Registering beyond this many bytes at once is refused: the fabric's own check of the engine's budget.</summary>
    public long RegistrationLimitBytes { get; init; } = long.MaxValue;

    /// <summary>
    /// Whether the fabric claims to keep writes in order (FI_ORDER_WAW). Without it, a write posted over one still in
    /// flight is a violation: with jitter its older data could land last.
    /// </summary>
    public bool OrdersWrites { get; init; } = true;

    /// <summary>Segments one write may carry (<see cref="IFabric.MaxWriteSegments"/>); 4, as libfabric's tcp provider.</summary>
    public int MaxWriteSegments { get; init; } = 4;

    /// <summary>What the fabric claims to pin for itself (<see cref="IFabric.PinnedForItselfBytes"/>), as a NIC's fence buffer.</summary>
    public long PinnedForItselfBytes { get; init; }
}
