using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace RdmaCs.Qemu.Tests;

/// <summary>
/// A TCP proxy for the migration stream (source to destination, and back) that cuts both connections at an rdma-cs
/// record boundary: just before or just after the first record of a kind. The transport's records (a HOOK flag, then
/// magic "RDCS", version, command, sequence, block count, blob length: 32 bytes) are the only place the stream names
/// rdma-cs, and no guest page crosses the stream, so the magic is found by a byte search.
/// </summary>
internal sealed class StreamCuttingProxy : IDisposable
{
    public const ushort Setup = 0, Round = 1, Finish = 3;
    private const int RecordBytes = 32;
    private const int MagicOffset = 8; // after the be64 RAM_SAVE_FLAG_HOOK
    private static readonly byte[] Magic = [0x52, 0x44, 0x43, 0x53];

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly ushort _command;
    private readonly bool _after;
    private readonly Thread _thread;
    private volatile bool _disposed;

    /// <param name="target">The destination's migration port.</param>
    /// <param name="command">The record to cut at: <see cref="Setup"/>, <see cref="Round"/> or <see cref="Finish"/>.</param>
    /// <param name="after">Cut just after the record (else just before it).</param>
    public StreamCuttingProxy(int target, ushort command, bool after)
    {
        _command = command;
        _after = after;
        _listener.Start();
        _thread = new Thread(() => Run(target)) { IsBackground = true, Name = "stream-cutting-proxy" };
        _thread.Start();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Whether the stream was cut where asked (false: it ended before the record came).</summary>
    public bool Cut { get; private set; }

    private void Run(int target)
    {
        try
        {
            using Socket source = _listener.AcceptSocket();
            using var destination = new Socket(SocketType.Stream, ProtocolType.Tcp);
            destination.Connect(IPAddress.Loopback, target);
            var back = new Thread(() => Copy(destination, source)) { IsBackground = true };
            back.Start();
            var seen = new List<byte>(); // every byte received so far, for records that straddle reads
            var buffer = new byte[64 << 10];
            int read;
            while ((read = source.Receive(buffer)) > 0)
            {
                int start = seen.Count;
                seen.AddRange(buffer.AsSpan(0, read));
                int cut = FindCut(seen);
                if (cut >= 0)
                {
                    destination.Send(seen.GetRange(start, Math.Max(0, cut - start)).ToArray());
                    Cut = true;
                    return; // both connections close here
                }
                destination.Send(buffer, read, SocketFlags.None);
            }
        }
        catch (Exception) when (_disposed)
        {
        }
        catch (SocketException)
        {
        }
    }

    private int _scanFrom; // where the next search for the magic starts

    /// <summary>The stream offset to cut at, once the record asked for has been seen whole; -1 before.</summary>
    private int FindCut(List<byte> seen)
    {
        byte[] bytes = [.. seen];
        while (true)
        {
            int found = bytes.AsSpan(_scanFrom).IndexOf(Magic);
            if (found < 0)
            {
                _scanFrom = Math.Max(0, bytes.Length - Magic.Length);
                return -1;
            }
            int magic = _scanFrom + found;
            int record = magic - MagicOffset;
            if (record >= 0 && record + RecordBytes > bytes.Length)
            {
                _scanFrom = magic; // the record is not all here yet
                return -1;
            }
            _scanFrom = magic + 1;
            if (record >= 0 && BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(magic + 6)) == _command)
            {
                return _after ? record + RecordBytes : record;
            }
        }
    }

    private static void Copy(Socket from, Socket to)
    {
        var buffer = new byte[64 << 10];
        try
        {
            int read;
            while ((read = from.Receive(buffer)) > 0)
            {
                to.Send(buffer, read, SocketFlags.None);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _listener.Stop();
        _thread.Join(TimeSpan.FromSeconds(5));
    }
}
