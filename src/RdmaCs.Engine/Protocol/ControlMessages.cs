namespace RdmaCs.Protocol;

/// <summary>A control message between source and destination; see <see cref="MessageCodec"/> for the bytes.</summary>
public abstract record ControlMessage
{
    public abstract MessageType Type { get; }
}

public enum MessageType : ushort
{
    Hello = 1,
    Accept = 2,
    Fence = 3,
    FenceAck = 4,
    Done = 5,
    PageHashes = 6,
    HashesEnd = 7,
    Verdict = 8,
    Error = 9,
    ZeroPages = 10,
    ZeroAck = 11,
    WindowRequest = 12,
    WindowGrant = 13,
    WindowRelease = 14,
    Attached = 15,
}

/// <summary>One RAM block as the source describes it: name and length.</summary>
public readonly record struct BlockDescriptor(string Name, long Length);

/// <summary>How the source must address one destination RAM block: registration key and base address (0 when offsets).</summary>
public readonly record struct RemoteKey(ulong Key, ulong BaseAddress);

/// <summary>Source → destination, first: who I am (token), what I will write (page size, RAM blocks), over which provider.</summary>
public sealed record Hello(int PageSize, string Token, string Provider, IReadOnlyList<BlockDescriptor> Blocks) : ControlMessage
{
    public override MessageType Type => MessageType.Hello;
}

/// <summary>
/// Destination → source: how to reach its RDMA endpoint (connected endpoints: the port to connect to with the connection
/// nonce; RDM endpoints: <paramref name="FabricAddress"/>, the endpoint's own address, and port 0); how guest RAM is
/// exposed (windows of <paramref name="WindowBytes"/>, at most <paramref name="Windows"/> at once: the destination's
/// budget); and the fence target: a buffer of the destination's own, the one thing it lets the source read.
/// </summary>
public sealed record Accept(string Provider, int FabricPort, int MrMode, ulong Nonce, long WindowBytes, int Windows, RemoteKey FenceTarget,
    byte[] FabricAddress) : ControlMessage
{
    public override MessageType Type => MessageType.Accept;

    /// <summary>True when the destination's endpoint is an RDM one, reached by address rather than by connection.</summary>
    public bool Datagram => FabricAddress.Length > 0;
}

/// <summary>
/// Source → destination, on RDM endpoints: the source's endpoint reaches the destination's (a fence read came back); what
/// a completed connection says on connected endpoints.
/// </summary>
public sealed record Attached() : ControlMessage
{
    public override MessageType Type => MessageType.Attached;
}

/// <summary>Source → destination: every write of round <paramref name="Sequence"/> has completed.</summary>
public sealed record Fence(long Sequence) : ControlMessage
{
    public override MessageType Type => MessageType.Fence;
}

/// <summary>Destination → source: fence <paramref name="Sequence"/> seen.</summary>
public sealed record FenceAck(long Sequence) : ControlMessage
{
    public override MessageType Type => MessageType.FenceAck;
}

/// <summary>
/// Source → destination: the transfer is over; revoke remote access, then report the pages' hashes when
/// <paramref name="Verify"/> (hashing all of RAM costs time a migration's downtime may not have).
/// </summary>
public sealed record Done(bool Verify = true) : ControlMessage
{
    public override MessageType Type => MessageType.Done;
}

/// <summary>Destination → source: hashes of consecutive pages of one block.</summary>
public sealed record PageHashes(int Block, long FirstPage, ulong[] Hashes) : ControlMessage
{
    public override MessageType Type => MessageType.PageHashes;
}

/// <summary>Destination → source: all hashes sent.</summary>
public sealed record HashesEnd() : ControlMessage
{
    public override MessageType Type => MessageType.HashesEnd;
}

/// <summary>Source → destination: whether every page's hash matched.</summary>
public sealed record Verdict(bool Verified, long Mismatches, string Detail) : ControlMessage
{
    public override MessageType Type => MessageType.Verdict;
}

/// <summary>
/// Source → destination: make bytes [<paramref name="Offset"/>, <paramref name="Offset"/> + <paramref name="Length"/>) of
/// RAM block <paramref name="Block"/> zero (whole pages; a page already zero is left untouched). Every write before it
/// has landed; no write to those pages comes before the <see cref="ZeroAck"/>.
/// </summary>
public sealed record ZeroPages(long Id, int Block, long Offset, long Length) : ControlMessage
{
    public override MessageType Type => MessageType.ZeroPages;
}

/// <summary>Destination → source: every zero range up to <paramref name="Id"/> is cleared (they are handled in order).</summary>
public sealed record ZeroAck(long Id) : ControlMessage
{
    public override MessageType Type => MessageType.ZeroAck;
}

/// <summary>Either way: the sender gives up, and says why.</summary>
public sealed record ErrorMessage(string Reason) : ControlMessage
{
    public override MessageType Type => MessageType.Error;
}

/// <summary>One window of the destination's guest RAM: window <paramref name="Index"/> covers bytes [Index × window size, + window
/// size) of RAM block <paramref name="Block"/>, the last one of a block what is left.</summary>
public readonly record struct WindowId(int Block, long Index);

/// <summary>
/// Source → destination: register window <paramref name="Window"/> for remote writes, and send its key. The source never
/// holds more windows (requested, granted, or released on a message still to come) than the <see cref="Accept"/> allows.
/// </summary>
public sealed record WindowRequest(WindowId Window) : ControlMessage
{
    public override MessageType Type => MessageType.WindowRequest;
}

/// <summary>Destination → source: window <paramref name="Window"/> takes remote writes now, under <paramref name="Key"/>.</summary>
public sealed record WindowGrant(WindowId Window, RemoteKey Key) : ControlMessage
{
    public override MessageType Type => MessageType.WindowGrant;
}

/// <summary>
/// Source → destination: every write into window <paramref name="Window"/> has landed and none follows; deregister it. Sent
/// after a fence read that proves the landing, so it cannot overtake a write still on its way.
/// </summary>
public sealed record WindowRelease(WindowId Window) : ControlMessage
{
    public override MessageType Type => MessageType.WindowRelease;
}
