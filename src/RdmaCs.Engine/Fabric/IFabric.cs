namespace RdmaCs.Fabric;

/// <summary>
/// What the engine needs from an RDMA fabric, and nothing more: register local memory, write it into a
/// RAM block of the destination, learn when writes complete, deregister. The engine never sees
/// provider details (keys, addressing modes); the fabric maps "RAM block i, offset o" to them.
/// </summary>
/// <remarks>
/// The engine calls these from its single worker thread. Errors are thrown as <see cref="FabricException"/>
/// (from calls) or reported as failed <see cref="FabricCompletion"/>s (from writes).
/// </remarks>
public interface IFabric
{
    /// <summary>A short name for logs: "memory", "tcp", "verbs;ofi_rxm", ...</summary>
    string Name { get; }

    /// <summary>
    /// True when registration pins the memory itself (verbs, efa). False for software fabrics, on which
    /// the engine locks registered memory with mlock to make the budget real.
    /// </summary>
    bool RegistrationPins { get; }

    /// <summary>The link's rate the NIC reports, in bits per second; 0 when unknown (software fabrics, or a NIC that does not say).</summary>
    double LinkBitsPerSecond { get; }

    /// <summary>
    /// Bytes the fabric pins for itself, outside the engine's registrations, for as long as it lives: on a NIC its fence
    /// buffer (a page) and its endpoint's queues. They come out of the budget before anything else.
    /// </summary>
    long PinnedForItselfBytes { get; }

    /// <summary>
    /// True when writes posted from this side land in the order they were posted (libfabric's FI_ORDER_WAW): two
    /// writes to the same page may then be in flight at once. False: the engine never lets them overlap.
    /// </summary>
    bool OrdersWrites { get; }

    /// <summary>Registers [address, address + length) for local reads by writes. Registering threads may call it (and
    /// <see cref="Deregister"/>) at the same time as each other and as the worker.</summary>
    FabricRegistration Register(nint address, long length);

    /// <summary>Releases a registration; no write from it may be in flight.</summary>
    void Deregister(FabricRegistration registration);

    /// <summary>
    /// How many segments one <see cref="PostWrite"/> may carry: 1 when each write is one contiguous range (verbs and efa
    /// take one remote range per write, and a NIC posts the next write for almost nothing), more where a write is a
    /// message of its own that scattered pages can share (the tcp provider: 4).
    /// </summary>
    int MaxWriteSegments { get; }

    /// <summary>
    /// The size of the windows in which the destination exposes its RAM, registering them on demand within its own budget;
    /// no write may cross a multiple of it in a RAM block (the engine's blocks tile the windows). 0: whole RAM blocks are
    /// exposed.
    /// </summary>
    long RemoteWindowBytes { get; }

    /// <summary>How many windows ahead of the one being written the engine names in <see cref="Prefetch"/>; 0 without windows.</summary>
    int PrefetchWindows { get; }

    /// <summary>
    /// The engine will soon write at <paramref name="remoteOffset"/> of the destination's RAM block
    /// <paramref name="ramBlock"/>: a fabric with windows asks for that one now, if it can without evicting one that is
    /// still needed, so that the destination's registration does not hold the write up. Never waits for the destination.
    /// </summary>
    void Prefetch(int ramBlock, long remoteOffset);

    /// <summary>
    /// Posts one RDMA write of every segment's [LocalAddress, + Length), which lies inside <paramref name="source"/>, to
    /// bytes [RemoteOffset, + Length) of the destination's RAM block <paramref name="ramBlock"/>; at most
    /// <see cref="MaxWriteSegments"/> segments. One completion, carrying <paramref name="context"/>, comes once all landed; no
    /// two writes in flight share a context (a fabric with windows counts the writes in each by it).
    /// </summary>
    void PostWrite(FabricRegistration source, ReadOnlySpan<WriteSegment> segments, int ramBlock, ulong context);

    /// <summary>
    /// Makes bytes [<paramref name="remoteOffset"/>, <paramref name="remoteOffset"/> + <paramref name="length"/>) of the
    /// destination's RAM block <paramref name="ramBlock"/> zero, after every write posted before this call has landed,
    /// without sending the zeros. Its completion carries <paramref name="context"/> and comes once the destination has
    /// cleared them; the engine posts no write to those bytes before then.
    /// </summary>
    void PostZero(int ramBlock, long remoteOffset, long length, ulong context);

    /// <summary>
    /// Sets what the fabric calls, from any thread, when completions become ready to poll (null: nothing).
    /// It must be cheap: it only wakes the engine's worker.
    /// </summary>
    void SetCompletionCallback(Action? callback);

    /// <summary>True when <see cref="PollCompletions"/> has something to return (checked before the worker sleeps).</summary>
    bool HasCompletions { get; }

    /// <summary>Moves completed writes into <paramref name="completions"/> without blocking; returns how many.</summary>
    int PollCompletions(Span<FabricCompletion> completions);
}

/// <summary>One piece of a write: local bytes, and where they go in the destination's RAM block.</summary>
public readonly record struct WriteSegment(nint LocalAddress, long Length, long RemoteOffset);

/// <summary>Conveniences over <see cref="IFabric"/>.</summary>
public static class FabricExtensions
{
    /// <summary>Posts a write of one contiguous range: [localAddress, + length) to [remoteOffset, + length) of the block.</summary>
    public static void PostWrite(this IFabric fabric, FabricRegistration source, nint localAddress, long length, int ramBlock,
        long remoteOffset, ulong context) =>
        fabric.PostWrite(source, [new WriteSegment(localAddress, length, remoteOffset)], ramBlock, context);
}

/// <summary>A fabric's handle for one registered range; the engine owns it until it deregisters it.</summary>
public sealed class FabricRegistration(nint address, long length, ulong key, object? providerState = null)
{
    public nint Address { get; } = address;
    public long Length { get; } = length;

    /// <summary>The provider's key for the registration (local descriptor or remote key, per provider).</summary>
    public ulong Key { get; } = key;

    /// <summary>Whatever the provider needs to find its own object again (an fid, a descriptor).</summary>
    public object? ProviderState { get; } = providerState;

    public bool Contains(nint address, long length) =>
        address >= Address && length >= 0 && (long)(address - Address) <= Length - length;
}

/// <summary>The outcome of one posted write.</summary>
/// <param name="Context">What the engine passed to <see cref="IFabric.PostWrite"/>.</param>
/// <param name="Error">0 on success, else a negative errno.</param>
/// <param name="Message">The provider's explanation of a failure.</param>
public readonly record struct FabricCompletion(ulong Context, int Error = 0, string? Message = null)
{
    public bool Succeeded => Error == 0;
}

/// <summary>A fabric call failed; the message says which call and why.</summary>
public class FabricException(string message, int error = 0, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The negative errno, when the fabric gave one.</summary>
    public int Error { get; } = error;
}
