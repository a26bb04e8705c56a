using System.Buffers.Binary;
using System.Text;

namespace RdmaCs.Protocol;

/// <summary>Reads a message payload field by field; every read checks that the bytes are there and names the field.</summary>
internal ref struct PayloadReader(ReadOnlySpan<byte> payload, MessageType type)
{
    private ReadOnlySpan<byte> _rest = payload;

    /// <summary>The message being read, for errors about its fields.</summary>
    public readonly MessageType Type => type;

    public ushort UInt16(string field) => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, field));
    public int Int32(string field) => BinaryPrimitives.ReadInt32LittleEndian(Take(4, field));
    public long Int64(string field) => BinaryPrimitives.ReadInt64LittleEndian(Take(8, field));
    public ulong UInt64(string field) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, field));
    public bool Boolean(string field) => Take(1, field)[0] switch
    {
        0 => false,
        1 => true,
        byte other => throw new ProtocolException($"{type}: {field} is {other}, not 0 or 1"),
    };

    /// <summary>A UTF-8 string of at most <paramref name="maxBytes"/> bytes, prefixed by its 16-bit length.</summary>
    public string String(string field, int maxBytes)
    {
        ReadOnlySpan<byte> bytes = Prefixed(field, maxBytes);
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new ProtocolException($"{type}: {field} is not valid UTF-8");
        }
    }

    /// <summary>Bytes of at most <paramref name="maxBytes"/>, prefixed by their 16-bit length.</summary>
    public byte[] Bytes(string field, int maxBytes) => Prefixed(field, maxBytes).ToArray();

    /// <summary>What <see cref="String"/> and <see cref="Bytes"/> read: a 16-bit length, then that many bytes.</summary>
    private ReadOnlySpan<byte> Prefixed(string field, int maxBytes)
    {
        int length = UInt16(field + " length");
        if (length > maxBytes)
        {
            throw new ProtocolException($"{type}: {field} is {length} bytes long; at most {maxBytes} are allowed");
        }
        return Take(length, field);
    }

    /// <summary>A count that must lie in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public int Count(string field, int min, int max)
    {
        int count = Int32(field);
        if (count < min || count > max)
        {
            throw new ProtocolException($"{type}: {field} is {count}; it must be between {min} and {max}");
        }
        return count;
    }

    /// <summary>Throws when bytes are left over: a message is exactly its fields.</summary>
    public readonly void End()
    {
        if (!_rest.IsEmpty)
        {
            throw new ProtocolException($"{type}: {_rest.Length} unexpected byte(s) after the last field");
        }
    }

    private ReadOnlySpan<byte> Take(int count, string field)
    {
        if (_rest.Length < count)
        {
            throw new ProtocolException($"{type} is truncated: {field} needs {count} byte(s), {_rest.Length} left");
        }
        ReadOnlySpan<byte> taken = _rest[..count];
        _rest = _rest[count..];
        return taken;
    }
}

/// <summary>Writes a message payload; the mirror of <see cref="PayloadReader"/>.</summary>
internal sealed class PayloadWriter
{
    private readonly MemoryStream _bytes = new();

    public PayloadWriter UInt16(ushort value) => Put(stackalloc byte[2], span => BinaryPrimitives.WriteUInt16LittleEndian(span, value));
    public PayloadWriter Int32(int value) => Put(stackalloc byte[4], span => BinaryPrimitives.WriteInt32LittleEndian(span, value));
    public PayloadWriter Int64(long value) => Put(stackalloc byte[8], span => BinaryPrimitives.WriteInt64LittleEndian(span, value));
    public PayloadWriter UInt64(ulong value) => Put(stackalloc byte[8], span => BinaryPrimitives.WriteUInt64LittleEndian(span, value));
    public PayloadWriter Boolean(bool value) => Put(stackalloc byte[1], span => span[0] = value ? (byte)1 : (byte)0);

    public PayloadWriter String(string value) => Bytes(Encoding.UTF8.GetBytes(value));

    /// <summary>Bytes, prefixed by their 16-bit length.</summary>
    public PayloadWriter Bytes(ReadOnlySpan<byte> value)
    {
        if (value.Length > ushort.MaxValue)
        {
            throw new ArgumentException("byte string too long for the protocol", nameof(value));
        }
        UInt16((ushort)value.Length);
        _bytes.Write(value);
        return this;
    }

    public byte[] ToArray() => _bytes.ToArray();

    private delegate void SpanAction(Span<byte> span);

    private PayloadWriter Put(Span<byte> buffer, SpanAction write)
    {
        write(buffer);
        _bytes.Write(buffer);
        return this;
    }
}
