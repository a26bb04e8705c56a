using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace RdmaCs.Qemu;

/// <summary>A minimal QMP client over QEMU's unix socket: one command at a time (any thread), events skipped.</summary>
public sealed class QmpClient : IDisposable
{
    private readonly Socket _socket;
    private readonly StreamReader _reader;
    private readonly StreamWriter _writer;
    private Func<string?>? _gone;

    private QmpClient(Socket socket)
    {
        _socket = socket;
        var stream = new NetworkStream(socket);
        _reader = new StreamReader(stream, Encoding.UTF8);
        _writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
    }

    /// <summary>Connects, retrying until the socket exists; <paramref name="gone"/> explains why waiting is pointless.</summary>
    public static QmpClient Connect(string path, TimeSpan timeout, Func<string?>? gone = null, bool outOfBand = false)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { ReceiveTimeout = 60_000 };
            try
            {
                socket.Connect(new UnixDomainSocketEndPoint(path));
                var client = new QmpClient(socket) { _gone = gone };
                client._reader.ReadLine(); // greeting
                client.Execute("qmp_capabilities", outOfBand ? new() { ["enable"] = new JsonArray("oob") } : null);
                return client;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                socket.Dispose();
                if (gone?.Invoke() is { } reason)
                {
                    throw new IOException(reason);
                }
                Thread.Sleep(50);
            }
        }
    }

    /// <summary>Runs a command; returns its "return" value, or throws <see cref="QmpException"/> with QEMU's error description.</summary>
    public JsonNode? Execute(string command, JsonObject? arguments = null)
    {
        lock (_writer)
        {
            try
            {
                return ExecuteLocked(command, arguments);
            }
            catch (IOException e) when (WhyGone() is { } reason)
            {
                // A broken connection is QEMU exiting: say how, with its log, rather than only that the socket broke.
                throw new IOException($"QMP broke during {command}: {reason}", e);
            }
        }
    }

    /// <summary>Why QEMU is gone (its exit and log), once it has exited; waits a moment for the exit to be seen.</summary>
    private string? WhyGone()
    {
        for (int i = 0; i < 20 && _gone is not null; i++)
        {
            if (_gone() is { } reason)
            {
                return reason;
            }
            Thread.Sleep(50);
        }
        return null;
    }

    private JsonNode? ExecuteLocked(string command, JsonObject? arguments)
    {
        var request = new JsonObject { ["execute"] = command };
        if (arguments is not null)
        {
            request["arguments"] = arguments;
        }
        _writer.WriteLine(request.ToJsonString());
        while (true)
        {
            string line = _reader.ReadLine() ?? throw new IOException($"QEMU closed QMP during {command}");
            JsonNode reply = JsonNode.Parse(line)!;
            if (reply["error"] is { } error)
            {
                throw new QmpException(command, (string?)error["desc"] ?? "no description");
            }
            if (reply.AsObject().ContainsKey("return"))
            {
                return reply["return"];
            }
        }
    }

    /// <summary>
    /// Runs a command out of band (the connection must have been opened with outOfBand): QEMU answers it even while
    /// the main loop is blocked, as it is during a migration's completion.
    /// </summary>
    public JsonNode? ExecuteOutOfBand(string command, JsonObject? arguments = null)
    {
        lock (_writer)
        {
            string id = $"oob-{++_nextId}";
            var request = new JsonObject { ["exec-oob"] = command, ["id"] = id };
            if (arguments is not null)
            {
                request["arguments"] = arguments;
            }
            _writer.WriteLine(request.ToJsonString());
            while (true)
            {
                JsonNode reply = ReadMessage(command);
                if ((string?)reply["id"] != id)
                {
                    continue;
                }
                if (reply["error"] is { } error)
                {
                    throw new QmpException(command, (string?)error["desc"] ?? "no description");
                }
                return reply["return"];
            }
        }
    }

    /// <summary>Reads until an event for which <paramref name="match"/> is true; throws TimeoutException after <paramref name="timeout"/>.</summary>
    public JsonNode WaitForEvent(Func<JsonNode, bool> match, TimeSpan timeout)
    {
        lock (_writer)
        {
            DateTime deadline = DateTime.UtcNow + timeout;
            while (DateTime.UtcNow < deadline)
            {
                _socket.ReceiveTimeout = (int)Math.Max(1, (deadline - DateTime.UtcNow).TotalMilliseconds);
                JsonNode message;
                try
                {
                    message = ReadMessage("an event");
                }
                catch (IOException) when (DateTime.UtcNow >= deadline)
                {
                    break;
                }
                if (message["event"] is not null && match(message))
                {
                    _socket.ReceiveTimeout = 60_000;
                    return message;
                }
            }
            throw new TimeoutException($"no such QMP event within {timeout.TotalSeconds:0.#} s");
        }
    }

    private JsonNode ReadMessage(string waitingFor) =>
        JsonNode.Parse(_reader.ReadLine() ?? throw new IOException($"QEMU closed QMP while waiting for {waitingFor}"))!;

    private int _nextId;

    public void Dispose() => _socket.Dispose();
}

/// <summary>QEMU refused a QMP command; <see cref="Exception.Message"/> is QEMU's own description.</summary>
public sealed class QmpException(string command, string description) : Exception(description)
{
    public string Command { get; } = command;
}
