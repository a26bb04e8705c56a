using System.Buffers.Binary;
using RdmaCs.Protocol;

namespace RdmaCs.Tests.Protocol;

public class MessageCodecTests
{
    private static readonly ControlMessage[] Samples =
    [
        new Hello(4096, "secret", "auto", [new BlockDescriptor("pc.ram", 1 << 20), new BlockDescriptor("vga.vram", 8192)]),
        new Accept("tcp", 40001, 0x74, 0xdeadbeefUL, 2 << 20, 7, new RemoteKey(3, 0x7f0000100000), []),
        new Accept("shm", 0, 0x4, 0xdeadbeefUL, 2 << 20, 7, new RemoteKey(3, 0x7f0000100000), [1, 2, 3, 4, 5]),
        new Attached(),
        new Fence(3),
        new FenceAck(3),
        new Done(),
        new PageHashes(1, 100, [1, 2, 3]),
        new HashesEnd(),
        new Verdict(true, 0, "all match"),
        new ErrorMessage("wrong token"),
        new ZeroPages(5, 1, 8192, 65536),
        new ZeroAck(5),
        new WindowRequest(new WindowId(1, 3)),
        new WindowGrant(new WindowId(1, 3), new RemoteKey(17, 0x7f0000600000)),
        new WindowRelease(new WindowId(1, 3)),
    ];

    public static TheoryData<int> SampleIndexes() => [.. Enumerable.Range(0, Samples.Length)];

    [Theory]
    [MemberData(nameof(SampleIndexes))]
    public void Every_message_survives_encoding_and_decoding(int index)
    {
        ControlMessage decoded = Decode(MessageCodec.Encode(Samples[index]));
        Assert.Equal(Samples[index].Type, decoded.Type);
        Assert.Equal(MessageCodec.Encode(Samples[index]), MessageCodec.Encode(decoded));
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(3L << 20)]
    [InlineData(256L)]
    public void An_accept_whose_window_size_is_not_a_power_of_two_of_at_least_512_is_refused(long windowBytes)
    {
        byte[] frame = MessageCodec.Encode(new Accept("tcp", 40001, 0, 1, windowBytes, 4, new RemoteKey(1, 0), []));
        var error = Assert.Throws<ProtocolException>(() => Decode(frame));
        Assert.Contains("window size", error.Message);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(40001, 16)]
    public void An_accept_must_name_either_a_fabric_port_or_a_fabric_address(int port, int addressBytes)
    {
        byte[] frame = MessageCodec.Encode(new Accept("tcp", port, 0, 1, 2 << 20, 4, new RemoteKey(1, 0), new byte[addressBytes]));
        var error = Assert.Throws<ProtocolException>(() => Decode(frame));
        Assert.Contains("a fabric port (connected endpoints) or a fabric address (RDM)", error.Message);
    }

    [Fact]
    public void Bytes_that_are_not_the_protocol_are_named_in_the_error()
    {
        var error = Assert.Throws<ProtocolException>(() => MessageCodec.DecodeHeader("GET / HTTP/1.1\r\n"u8));
        Assert.Contains("not an rdma-cs peer", error.Message);
        Assert.Contains("GET ", error.Message);
    }

    [Fact]
    public void Another_protocol_version_is_refused_with_both_versions_named()
    {
        byte[] frame = MessageCodec.Encode(new Done());
        BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(4), 7);
        var error = Assert.Throws<ProtocolException>(() => MessageCodec.DecodeHeader(frame));
        Assert.Contains("version 7", error.Message);
        Assert.Contains($"version {MessageCodec.Version}", error.Message);
    }

    [Fact]
    public void A_payload_one_byte_over_the_limit_is_refused_and_one_at_the_limit_is_not()
    {
        byte[] frame = MessageCodec.Encode(new Done());
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(8), MessageCodec.MaxPayload);
        Assert.Equal(MessageCodec.MaxPayload, MessageCodec.DecodeHeader(frame).Length);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(8), MessageCodec.MaxPayload + 1);
        Assert.Contains("exceeds the limit", Assert.Throws<ProtocolException>(() => MessageCodec.DecodeHeader(frame)).Message);
    }

    [Fact]
    public void An_unknown_message_type_is_refused()
    {
        byte[] frame = MessageCodec.Encode(new Done());
        BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(6), 250);
        Assert.Contains("unknown message type 250", Assert.Throws<ProtocolException>(() => MessageCodec.DecodeHeader(frame)).Message);
    }

    [Theory]
    [MemberData(nameof(SampleIndexes))]
    public void Every_truncation_of_a_payload_is_refused(int index)
    {
        byte[] frame = MessageCodec.Encode(Samples[index]);
        (MessageType type, int length) = MessageCodec.DecodeHeader(frame);
        for (int cut = 0; cut < length; cut++)
        {
            byte[] payload = frame[MessageCodec.HeaderLength..(MessageCodec.HeaderLength + cut)];
            var error = Assert.Throws<ProtocolException>(() => MessageCodec.DecodePayload(type, payload));
            Assert.Contains("truncated", error.Message);
        }
    }

    [Fact]
    public void Bytes_after_the_last_field_are_refused()
    {
        byte[] frame = MessageCodec.Encode(new Fence(1));
        byte[] payload = [.. frame[MessageCodec.HeaderLength..], 0];
        Assert.Contains("unexpected byte", Assert.Throws<ProtocolException>(() => MessageCodec.DecodePayload(MessageType.Fence, payload)).Message);
    }

    [Theory]
    [InlineData(3000, "power of two")]
    [InlineData(4096 * 3, "power of two")]
    public void A_hello_with_an_impossible_page_size_is_refused(int pageSize, string reason)
    {
        byte[] frame = MessageCodec.Encode(new Hello(pageSize, "t", "auto", [new BlockDescriptor("ram0", 4096)]));
        Assert.Contains(reason, Assert.Throws<ProtocolException>(() => Decode(frame)).Message);
    }

    [Fact]
    public void A_hello_with_a_repeated_block_or_a_partial_page_is_refused()
    {
        byte[] repeated = MessageCodec.Encode(new Hello(4096, "t", "auto", [new BlockDescriptor("a", 4096), new BlockDescriptor("a", 4096)]));
        Assert.Contains("repeated", Assert.Throws<ProtocolException>(() => Decode(repeated)).Message);
        byte[] partial = MessageCodec.Encode(new Hello(4096, "t", "auto", [new BlockDescriptor("a", 4097)]));
        Assert.Contains("whole number of pages", Assert.Throws<ProtocolException>(() => Decode(partial)).Message);
    }

    [Fact]
    public void A_token_longer_than_the_limit_is_refused()
    {
        byte[] frame = MessageCodec.Encode(new Hello(4096, new string('x', MessageCodec.MaxTokenBytes + 1), "auto", [new BlockDescriptor("a", 4096)]));
        Assert.Contains("at most", Assert.Throws<ProtocolException>(() => Decode(frame)).Message);
    }

    [Fact]
    public void Random_bytes_never_crash_the_decoder()
    {
        var random = new Random(1);
        foreach (MessageType type in Enum.GetValues<MessageType>())
        {
            for (int i = 0; i < 2000; i++)
            {
                byte[] payload = new byte[random.Next(0, 64)];
                random.NextBytes(payload);
                try
                {
                    MessageCodec.DecodePayload(type, payload);
                }
                catch (ProtocolException)
                {
                    // refused with a reason: fine
                }
            }
        }
    }

    private static ControlMessage Decode(byte[] frame)
    {
        (MessageType type, int length) = MessageCodec.DecodeHeader(frame);
        Assert.Equal(frame.Length - MessageCodec.HeaderLength, length);
        return MessageCodec.DecodePayload(type, frame.AsSpan(MessageCodec.HeaderLength));
    }
}
