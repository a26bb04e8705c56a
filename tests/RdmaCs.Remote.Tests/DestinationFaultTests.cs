using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using RdmaCs.Memory;
using RdmaCs.Protocol;

namespace RdmaCs.Remote.Tests;

/// <summary>
/// Bad input and lost sources against a real <c>rdmacs serve</c>: each is refused with a clear error (sent to
/// the peer where it can still hear it, and printed), nothing stays locked, and the server serves the next source.
/// </summary>
public sealed class DestinationFaultTests : IDisposable
{
    private readonly ServeProcess _server = new(16 << 20);

    public void Dispose() => _server.Dispose();

    [Fact]
    public void Garbage_bytes_are_refused_as_not_the_protocol_and_the_server_serves_the_next_source()
    {
        using (Socket socket = _server.ConnectRaw())
        {
            socket.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
            var reply = Assert.IsType<ErrorMessage>(ServeProcess.ReadMessage(socket));
            Assert.Contains("not an rdma-cs peer", reply.Reason);
        }
        AssertFailedSessionAndStillServing("not an rdma-cs peer");
    }

    [Fact]
    public void A_truncated_message_is_reported_as_truncated()
    {
        using (Socket socket = _server.ConnectRaw())
        {
            byte[] frame = MessageCodec.Encode(new Hello(4096, ServeProcess.Token, "tcp", [new BlockDescriptor("ram0", 16 << 20)]));
            socket.Send(frame[..(frame.Length - 5)]);
            socket.Shutdown(SocketShutdown.Send);
        }
        AssertFailedSessionAndStillServing("truncated");
    }

    [Fact]
    public void An_oversized_message_is_refused_before_its_payload_is_read()
    {
        using (Socket socket = _server.ConnectRaw())
        {
            byte[] frame = MessageCodec.Encode(new Done());
            BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(8), 1u << 30);
            socket.Send(frame);
            Assert.Contains("exceeds the limit", Assert.IsType<ErrorMessage>(ServeProcess.ReadMessage(socket)).Reason);
        }
        AssertFailedSessionAndStillServing("exceeds the limit");
    }

    [Fact]
    public void Another_protocol_version_is_refused_with_both_versions_named()
    {
        using (Socket socket = _server.ConnectRaw())
        {
            byte[] frame = MessageCodec.Encode(new Hello(4096, ServeProcess.Token, "tcp", [new BlockDescriptor("ram0", 16 << 20)]));
            BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(4), 9);
            socket.Send(frame);
            Assert.Contains("version 9", Assert.IsType<ErrorMessage>(ServeProcess.ReadMessage(socket)).Reason);
        }
        AssertFailedSessionAndStillServing("version 9");
    }

    [Fact]
    public void A_wrong_token_is_refused_on_both_sides_before_anything_is_exposed()
    {
        var error = Assert.Throws<PeerReportedException>(() => _server.TransferInProcess(token: "a-wrong-token"));
        Assert.Contains("wrong token", error.Message);
        AssertFailedSessionAndStillServing("wrong token");
    }

    [Fact]
    public void A_RAM_block_table_that_does_not_match_is_refused_on_both_sides()
    {
        var error = Assert.Throws<PeerReportedException>(() => _server.TransferInProcess(sizeBytes: 8 << 20));
        Assert.Contains("RAM block table mismatch", error.Message);
        AssertFailedSessionAndStillServing("RAM block table mismatch");
    }

    [Fact]
    public void A_source_killed_mid_transfer_leaves_the_destination_serving_with_nothing_locked()
    {
        using (var source = new RdmacsProcess("send", "--to", $"127.0.0.1:{_server.Port}", "--size", "16M", "--budget", "2M",
                   "--rounds", "1000", "--dirty-rate", "50000", "--token", ServeProcess.Token, "--provider", "tcp"))
        {
            source.NextOutputLine(line => line.Contains("round 2:", StringComparison.Ordinal), ServeProcess.Timeout);
            source.Kill();
        }
        AssertFailedSessionAndStillServing("");
    }

    /// <summary>The server printed a failed session naming <paramref name="reason"/>, holds nothing locked, and a good source still gets through.</summary>
    private void AssertFailedSessionAndStillServing(string reason)
    {
        JsonNode session = _server.NextSession();
        Assert.False((bool)session["verified"]!);
        string error = (string?)session["error"] ?? "";
        Assert.False(string.IsNullOrEmpty(error), "a failed session must say why");
        Assert.Contains(reason, error);
        Assert.Equal(0, (long)session["vmlck_bytes"]!);
        Assert.Equal(0, _server.LockedBytes);
        Assert.False(_server.Process.HasExited, "the server must survive a bad source");

        Assert.True(_server.TransferInProcess().Verified, "the next, well-behaved source must get through");
        Assert.True((bool)_server.NextSession()["verified"]!);
        Assert.Equal(0, ProcessMemoryStatus.ReadLockedBytes());
    }
}
