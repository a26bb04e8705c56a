using System.Net.Sockets;

namespace RdmaCs.Protocol;

/// <summary>
/// The control connection: framed messages over TCP, every receive with a deadline. The data itself never
/// travels here; it goes by RDMA writes.
/// </summary>
public sealed class ControlChannel : IDisposable
{
    private readonly Socket _socket;
    private readonly object _sendLock = new();

    public ControlChannel(Socket socket)
    {
        _socket = socket;
        _socket.NoDelay = true;
        Peer = socket.RemoteEndPoint?.ToString() ?? "?";
    }

    public string Peer { get; }

    public static ControlChannel Connect(string host, int port, TimeSpan timeout)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            using var cancel = new CancellationTokenSource(timeout);
            socket.ConnectAsync(host, port, cancel.Token).AsTask().GetAwaiter().GetResult();
            return new ControlChannel(socket);
        }
        catch (OperationCanceledException)
        {
            socket.Dispose();
            throw new PeerLostException($"could not reach {host}:{port} within {timeout.TotalSeconds:0.#} s");
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new PeerLostException($"could not connect to {host}:{port}: {e.Message}", e);
        }
    }

    public void Send(ControlMessage message) => Send(MessageCodec.Encode(message), message.Type);

    /// <summary>Sends the messages together, in one write: many small messages cost one system call, not one each.</summary>
    public void SendAll(IEnumerable<ControlMessage> messages)
    {
        var frames = new MemoryStream();
        MessageType last = default;
        foreach (ControlMessage message in messages)
        {
            frames.Write(MessageCodec.Encode(message));
            last = message.Type;
        }
        if (frames.Length > 0)
        {
            Send(frames.ToArray(), last);
        }
    }

    /// <summary>Whether more of the peer's bytes have arrived than were read: a message is (at least partly) waiting.</summary>
    public bool HasPendingInput
    {
        get
        {
            try
            {
                return _socket.Available > 0;
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return false;
            }
        }
    }

    private void Send(byte[] frames, MessageType what)
    {
        lock (_sendLock)
        {
            try
            {
                _socket.Send(frames);
            }
            catch (SocketException e)
            {
                throw new PeerLostException($"the control connection to {Peer} broke while sending {what}: {e.Message}", e);
            }
            catch (ObjectDisposedException e)
            {
                throw new PeerLostException($"the control connection to {Peer} is closed", e);
            }
        }
    }

    /// <summary>Sends an error to the peer if the connection still works; never throws.</summary>
    public void TrySendError(string reason)
    {
        try
        {
            Send(new ErrorMessage(reason));
        }
        catch (PeerLostException)
        {
        }
    }

    /// <summary>The next message; <see cref="Timeout.InfiniteTimeSpan"/> waits for ever.</summary>
    public ControlMessage Receive(TimeSpan timeout)
    {
        _socket.ReceiveTimeout = timeout == Timeout.InfiniteTimeSpan ? 0 : (int)Math.Max(1, timeout.TotalMilliseconds);
        Span<byte> header = stackalloc byte[MessageCodec.HeaderLength];
        ReadExactly(header, "a message header", timeout);
        (MessageType type, int length) = MessageCodec.DecodeHeader(header);
        var payload = new byte[length];
        ReadExactly(payload, $"the {type} message's {length} byte(s)", timeout);
        return MessageCodec.DecodePayload(type, payload);
    }

    /// <summary>The next message, which must be a <typeparamref name="T"/>; an error from the peer is thrown as such.</summary>
    public T Expect<T>(TimeSpan timeout) where T : ControlMessage
    {
        ControlMessage message = Receive(timeout);
        return message switch
        {
            T expected => expected,
            ErrorMessage error => throw new PeerReportedException(error.Reason),
            _ => throw new ProtocolException($"expected {typeof(T).Name}, got {message.Type}"),
        };
    }

    private void ReadExactly(Span<byte> buffer, string what, TimeSpan timeout)
    {
        int read = 0;
        while (read < buffer.Length)
        {
            int count;
            try
            {
                count = _socket.Receive(buffer[read..]);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
            {
                throw new TimeoutException($"{Peer} sent nothing for {timeout.TotalSeconds:0.#} s (waiting for {what})");
            }
            catch (SocketException e)
            {
                throw new PeerLostException($"the control connection to {Peer} broke: {e.Message}", e);
            }
            catch (ObjectDisposedException e)
            {
                throw new PeerLostException($"the control connection to {Peer} is closed", e);
            }
            if (count == 0)
            {
                throw read == 0 && what == "a message header"
                    ? new PeerLostException($"{Peer} closed the control connection")
                    : new ProtocolException($"truncated message: {Peer} closed the connection after {read} of {buffer.Length} bytes of {what}");
            }
            read += count;
        }
    }

    /// <summary>Idempotent, any thread (an abort may race with the owner's dispose).</summary>
    public void Dispose()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        _socket.Dispose();
    }
}
