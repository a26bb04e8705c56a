using System.Buffers.Binary;

namespace RdmaCs.Protocol;

/// <summary>
/// The control protocol's bytes. A frame is a 12-byte header — magic "RDCS", protocol version (u16), message
/// type (u16), payload length (u32), little-endian — then the payload. Every field of every message is
/// validated on the way in; anything off is a <see cref="ProtocolException"/> that says what.
/// </summary>
public static class MessageCodec
{
    public const uint Magic = 0x53434452; // "RDCS" as bytes on the wire
    public const ushort Version = 4; // 2: Accept carries the fence target; 3: rounds are not fenced; 4: guest RAM is exposed in windows
    public const int HeaderLength = 12;
    public const int MaxPayload = 1 << 20;
    public const int MaxBlocks = 4096;
    public const int MaxNameBytes = 256;
    public const int MaxTokenBytes = 256;
    public const int MaxHashesPerMessage = 65536;
    public const int MaxFabricAddressBytes = 256;

    public static byte[] Encode(ControlMessage message)
    {
        byte[] payload = EncodePayload(message);
        var frame = new byte[HeaderLength + payload.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(4), Version);
        BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(6), (ushort)message.Type);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(8), (uint)payload.Length);
        payload.CopyTo(frame, HeaderLength);
        return frame;
    }

    /// <summary>Checks a header; returns the message type and the payload length to read next.</summary>
    public static (MessageType Type, int Length) DecodeHeader(ReadOnlySpan<byte> header)
    {
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(header);
        if (magic != Magic)
        {
            throw new ProtocolException(
                $"not an rdma-cs peer: the stream starts with {Convert.ToHexString(header[..4])} ('{Printable(header[..4])}'), not 'RDCS'");
        }
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(header[4..]);
        if (version != Version)
        {
            throw new ProtocolException($"the peer speaks protocol version {version}; this side speaks version {Version}");
        }
        ushort type = BinaryPrimitives.ReadUInt16LittleEndian(header[6..]);
        if (!Enum.IsDefined((MessageType)type))
        {
            throw new ProtocolException($"unknown message type {type}");
        }
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
        if (length > MaxPayload)
        {
            throw new ProtocolException($"{(MessageType)type} message of {length} bytes exceeds the limit of {MaxPayload}");
        }
        return ((MessageType)type, (int)length);
    }

    public static ControlMessage DecodePayload(MessageType type, ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload, type);
        ControlMessage message = type switch
        {
            MessageType.Hello => ReadHello(ref reader),
            MessageType.Accept => ReadAccept(ref reader),
            MessageType.Fence => new Fence(NonNegative(reader.Int64("sequence"), type, "sequence")),
            MessageType.FenceAck => new FenceAck(NonNegative(reader.Int64("sequence"), type, "sequence")),
            MessageType.Done => new Done(reader.Boolean("verify")),
            MessageType.PageHashes => ReadPageHashes(ref reader),
            MessageType.HashesEnd => new HashesEnd(),
            MessageType.Verdict => new Verdict(reader.Boolean("verified"), NonNegative(reader.Int64("mismatches"), type, "mismatches"), reader.String("detail", 4096)),
            MessageType.Error => new ErrorMessage(reader.String("reason", 4096)),
            MessageType.ZeroPages => new ZeroPages(NonNegative(reader.Int64("id"), type, "id"), (int)NonNegative(reader.Int32("block"), type, "block"),
                NonNegative(reader.Int64("offset"), type, "offset"), NonNegative(reader.Int64("length"), type, "length")),
            MessageType.ZeroAck => new ZeroAck(NonNegative(reader.Int64("id"), type, "id")),
            MessageType.WindowRequest => new WindowRequest(ReadWindow(ref reader)),
            MessageType.WindowGrant => new WindowGrant(ReadWindow(ref reader), new RemoteKey(reader.UInt64("key"), reader.UInt64("base address"))),
            MessageType.WindowRelease => new WindowRelease(ReadWindow(ref reader)),
            MessageType.Attached => new Attached(),
            _ => throw new ProtocolException($"unknown message type {(ushort)type}"),
        };
        reader.End();
        return message;
    }

    private static Hello ReadHello(ref PayloadReader reader)
    {
        int pageSize = reader.Int32("page size");
        if (pageSize < 512 || pageSize > (1 << 30) || (pageSize & (pageSize - 1)) != 0)
        {
            throw new ProtocolException($"Hello: page size {pageSize} is not a power of two between 512 and 1G");
        }
        string token = reader.String("token", MaxTokenBytes);
        string provider = reader.String("provider", 64);
        int count = reader.Count("block count", 1, MaxBlocks);
        var blocks = new List<BlockDescriptor>(count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            string name = reader.String($"block {i} name", MaxNameBytes);
            long length = reader.Int64($"block {i} length");
            if (name.Length == 0 || !names.Add(name))
            {
                throw new ProtocolException($"Hello: block {i} name '{name}' is empty or repeated");
            }
            if (length <= 0 || length % pageSize != 0)
            {
                throw new ProtocolException($"Hello: block '{name}' length {length} is not a positive whole number of pages");
            }
            blocks.Add(new BlockDescriptor(name, length));
        }
        return new Hello(pageSize, token, provider, blocks);
    }

    private static Accept ReadAccept(ref PayloadReader reader)
    {
        string provider = reader.String("provider", 64);
        int port = reader.Int32("fabric port");
        if (port is < 0 or > 65535)
        {
            throw new ProtocolException($"Accept: fabric port {port} is not a port");
        }
        int mrMode = reader.Int32("mr mode");
        ulong nonce = reader.UInt64("nonce");
        long windowBytes = reader.Int64("window size");
        if (windowBytes < 512 || (windowBytes & (windowBytes - 1)) != 0)
        {
            throw new ProtocolException($"Accept: window size {windowBytes} is not a power of two of at least 512");
        }
        int windows = reader.Count("window count", 1, int.MaxValue);
        var fence = new RemoteKey(reader.UInt64("fence target key"), reader.UInt64("fence target base address"));
        byte[] address = reader.Bytes("fabric address", MaxFabricAddressBytes);
        if ((port == 0) == (address.Length == 0))
        {
            throw new ProtocolException($"Accept: give a fabric port (connected endpoints) or a fabric address (RDM), not {(port == 0 ? "neither" : "both")}");
        }
        return new Accept(provider, port, mrMode, nonce, windowBytes, windows, fence, address);
    }

    private static WindowId ReadWindow(ref PayloadReader reader) =>
        new(reader.Count("block", 0, MaxBlocks - 1), NonNegative(reader.Int64("window"), reader.Type, "window"));

    private static PageHashes ReadPageHashes(ref PayloadReader reader)
    {
        int block = reader.Count("block", 0, MaxBlocks - 1);
        long firstPage = NonNegative(reader.Int64("first page"), MessageType.PageHashes, "first page");
        int count = reader.Count("hash count", 1, MaxHashesPerMessage);
        var hashes = new ulong[count];
        for (int i = 0; i < count; i++)
        {
            hashes[i] = reader.UInt64("hash");
        }
        return new PageHashes(block, firstPage, hashes);
    }

    private static byte[] EncodePayload(ControlMessage message)
    {
        var writer = new PayloadWriter();
        switch (message)
        {
            case Hello hello:
                writer.Int32(hello.PageSize).String(hello.Token).String(hello.Provider).Int32(hello.Blocks.Count);
                foreach (BlockDescriptor block in hello.Blocks)
                {
                    writer.String(block.Name).Int64(block.Length);
                }
                break;
            case Accept accept:
                writer.String(accept.Provider).Int32(accept.FabricPort).Int32(accept.MrMode).UInt64(accept.Nonce)
                    .Int64(accept.WindowBytes).Int32(accept.Windows);
                writer.UInt64(accept.FenceTarget.Key).UInt64(accept.FenceTarget.BaseAddress).Bytes(accept.FabricAddress);
                break;
            case Fence fence:
                writer.Int64(fence.Sequence);
                break;
            case FenceAck ack:
                writer.Int64(ack.Sequence);
                break;
            case PageHashes hashes:
                writer.Int32(hashes.Block).Int64(hashes.FirstPage).Int32(hashes.Hashes.Length);
                foreach (ulong hash in hashes.Hashes)
                {
                    writer.UInt64(hash);
                }
                break;
            case Verdict verdict:
                writer.Boolean(verdict.Verified).Int64(verdict.Mismatches).String(verdict.Detail);
                break;
            case ErrorMessage error:
                writer.String(error.Reason.Length > 2000 ? error.Reason[..2000] : error.Reason);
                break;
            case Done done:
                writer.Boolean(done.Verify);
                break;
            case HashesEnd or Attached:
                break;
            case ZeroPages zero:
                writer.Int64(zero.Id).Int32(zero.Block).Int64(zero.Offset).Int64(zero.Length);
                break;
            case ZeroAck ack:
                writer.Int64(ack.Id);
                break;
            case WindowRequest request:
                writer.Int32(request.Window.Block).Int64(request.Window.Index);
                break;
            case WindowGrant grant:
                writer.Int32(grant.Window.Block).Int64(grant.Window.Index).UInt64(grant.Key.Key).UInt64(grant.Key.BaseAddress);
                break;
            case WindowRelease release:
                writer.Int32(release.Window.Block).Int64(release.Window.Index);
                break;
            default:
                throw new ArgumentException($"cannot encode {message.GetType().Name}", nameof(message));
        }
        return writer.ToArray();
    }

    private static long NonNegative(long value, MessageType type, string field) =>
        value >= 0 ? value : throw new ProtocolException($"{type}: {field} {value} is negative");

    private static string Printable(ReadOnlySpan<byte> bytes) =>
        string.Concat(bytes.ToArray().Select(b => b is >= 32 and < 127 ? (char)b : '.'));
}
