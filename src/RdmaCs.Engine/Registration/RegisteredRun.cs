using RdmaCs.Fabric;

namespace RdmaCs.Registration;

/// <summary>
/// A run of pages of one RAM block registered with the fabric (and pinned). Live while writes from it are
/// in flight or while the cache keeps it idle. Touched by the engine's worker only.
/// </summary>
internal sealed class RegisteredRun(int ramBlock, long firstPage, int pageCount, long bytes, FabricRegistration handle, bool locked)
{
    public int RamBlock { get; } = ramBlock;
    public long FirstPage { get; } = firstPage;
    public int PageCount { get; } = pageCount;
    public long EndPage => FirstPage + PageCount;
    public long Bytes { get; } = bytes;
    public FabricRegistration Handle { get; } = handle;

    /// <summary>The engine mlocked the range itself (software fabric), so it must munlock it.</summary>
    public bool Locked { get; } = locked;

    /// <summary>Writes posted from this registration and not yet completed.</summary>
    public int WritesInFlight { get; set; }

    /// <summary>This registration's place in the idle (LRU) list while it is idle and cached.</summary>
    public LinkedListNode<RegisteredRun>? IdleNode { get; set; }

    public bool Contains(long page) => page >= FirstPage && page < EndPage;
}
