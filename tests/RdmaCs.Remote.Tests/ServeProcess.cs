using System.Globalization;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using RdmaCs.Configuration;
using RdmaCs.Fabric.Memory;
using RdmaCs.Memory;
using RdmaCs.Protocol;
using RdmaCs.Remote;

namespace RdmaCs.Remote.Tests;

/// <summary>A running <c>rdmacs serve</c> on loopback, with what tests ask of it.</summary>
internal sealed partial class ServeProcess : IDisposable
{
    public const string Token = "the-right-token";
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <param name="budgetBytes">The server's own budget (--budget); null: its default.</param>
    public ServeProcess(long sizeBytes, long? budgetBytes = null)
    {
        SizeBytes = sizeBytes;
        Process = new RdmacsProcess([
            "serve", "--listen", "127.0.0.1:0", "--size", sizeBytes.ToString(CultureInfo.InvariantCulture), "--token", Token, "--json",
            .. budgetBytes is { } budget ? new[] { "--budget", budget.ToString(CultureInfo.InvariantCulture) } : [],
        ]);
        string listening = Process.WaitForError("listening on", Timeout);
        Port = int.Parse(ListeningPort().Match(listening).Groups[1].Value, CultureInfo.InvariantCulture);
    }

    public RdmacsProcess Process { get; }
    public int Port { get; }
    public long SizeBytes { get; }

    /// <summary>VmLck of the server process, from the kernel.</summary>
    public long LockedBytes => ProcessMemoryStatus.ReadLockedBytes(Process.Pid);

    /// <summary>The next session result the server prints (one JSON object per line).</summary>
    public JsonNode NextSession() => JsonNode.Parse(Process.NextOutputLine(line => line.StartsWith('{'), Timeout))!;

    /// <summary>Opens a raw TCP connection to the control port.</summary>
    public Socket ConnectRaw()
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 30_000 };
        socket.Connect("127.0.0.1", Port);
        return socket;
    }

    /// <summary>A complete, correct transfer from this process, through the engine: what a healthy server must still accept.</summary>
    public VerificationResult TransferInProcess(string token = Token, long? sizeBytes = null)
    {
        long size = sizeBytes ?? SizeBytes;
        using var memory = new AlignedBuffer(size);
        for (long page = 0; page < size / 4096; page++)
        {
            PagePattern.Fill(memory.Page(page, 4096), 0, page, version: 3);
        }
        using SourceSession session = SourceSession.Open(
            new SourceOptions { Host = "127.0.0.1", Port = Port, Token = token, Provider = "tcp" },
            new EngineOptions { BudgetBytes = 4 << 20 }, [new RamBlock("ram0", memory.Address, size)], (_, _) => { });
        session.Engine.DesignateRange(0, 0, size);
        session.CompleteRound(1);
        return session.Finish();
    }

    /// <summary>Reads one framed message from a raw socket (what the server answers to bad input).</summary>
    public static ControlMessage ReadMessage(Socket socket)
    {
        byte[] header = ReadExactly(socket, MessageCodec.HeaderLength);
        (MessageType type, int length) = MessageCodec.DecodeHeader(header);
        return MessageCodec.DecodePayload(type, ReadExactly(socket, length));
    }

    private static byte[] ReadExactly(Socket socket, int count)
    {
        var buffer = new byte[count];
        for (int read = 0; read < count;)
        {
            int n = socket.Receive(buffer, read, count - read, SocketFlags.None);
            if (n == 0)
            {
                throw new Xunit.Sdk.XunitException($"the server closed the connection after {read} of {count} bytes");
            }
            read += n;
        }
        return buffer;
    }

    public void Dispose() => Process.Dispose();

    [GeneratedRegex(@"listening on [^ ]*:(\d+) ")]
    private static partial Regex ListeningPort();
}
