using RdmaCs.Fabric;

namespace RdmaCs.Registration;

/// <summary>Where a registration is in its life.</summary>
internal enum RunState
{
    /// <summary>Being registered by a thread of the <see cref="RegistrationPool"/>: its pages are taken, nothing writes from it yet.</summary>
    Registering,

    /// <summary>Registered: writes may come from it (in flight, or idle in the cache).</summary>
    Ready,

    /// <summary>Being deregistered by the pool: its pages stay taken until it is gone, so nothing re-locks them meanwhile.</summary>
    Leaving,
}

/// <summary>
/// A run of pages of one RAM block registered with the fabric (and pinned). Live while writes from it are
/// in flight or while the cache keeps it idle. Touched by the engine's worker only.
/// </summary>
internal sealed class RegisteredRun(int ramBlock, long firstPage, int pageCount, long bytes, nint address, bool locked)
{
    public int RamBlock { get; } = ramBlock;
    public long FirstPage { get; } = firstPage;
    public int PageCount { get; } = pageCount;
    public long EndPage => FirstPage + PageCount;
    public long Bytes { get; } = bytes;
    public nint Address { get; } = address;

    /// <summary>The fabric's handle once <see cref="State"/> is Ready.</summary>
    public FabricRegistration Handle { get; set; } = null!;

    public RunState State { get; set; } = RunState.Ready;

    /// <summary>True when writes may be posted from it.</summary>
    public bool IsReady => State == RunState.Ready;

    /// <summary>The engine mlocks the range itself (software fabric), so it must munlock it.</summary>
    public bool Locked { get; } = locked;

    /// <summary>Writes posted from this registration and not yet completed.</summary>
    public int WritesInFlight { get; set; }

    /// <summary>This registration's place in the idle (LRU) list while it is idle and cached.</summary>
    public LinkedListNode<RegisteredRun>? IdleNode { get; set; }

    public bool Contains(long page) => page >= FirstPage && page < EndPage;
}
