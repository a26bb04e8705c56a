using RdmaCs.Bindings.Plugin;
using RdmaCs.Remote;
using RdmaCs.Transfer;

namespace RdmaCs.Native;

/// <summary>
/// The destination role: dst_setup starts a session thread that exposes the RAM blocks to the authenticated
/// source; dst_sync reports, without blocking, how far the source's fences have come.
/// </summary>
internal sealed unsafe class DestinationPlugin(HostApi host, PluginOptions options, string hostName, string port, int pageSize)
    : PluginContext(host, options, hostName, port, pageSize)
{
    private DestinationServer? _server;
    private Thread? _session;
    private volatile bool _connected;
    private long _lastFence = -1;
    private volatile int _outcome; // 0 running, 1 finished and verified, -errno failed

    public int Setup(rdma_cs_block* blocks, uint count)
    {
        RamBlock[] table = Blocks(blocks, count);
        _server = new DestinationServer(new DestinationOptions
        {
            ListenHost = HostName,
            Port = Options.ControlPortFor(Port),
            Token = Options.RequireToken(),
            Provider = Options.Provider,
            HandshakeTimeout = Options.Timeout,
            IdleTimeout = Options.Timeout,
            Connected = () => _connected = true,
            FenceSeen = sequence => Volatile.Write(ref _lastFence, sequence),
        }, table, PageSize, Host.EngineLog);
        Host.Log((int)rdma_cs_log_level.RDMA_CS_LOG_INFO,
            $"destination: {table.Length} RAM block(s) waiting for the source on {HostName}:{_server.Port}");
        DestinationServer server = _server;
        _session = BackgroundThread.Start("rdmacs-destination-session", () =>
        {
            try
            {
                DestinationSessionResult result = server.ServeOne();
                _outcome = result.Error is null && result.Verified ? 1 : -Errno.EIO;
            }
            catch (Exception e)
            {
                // Cancelled while waiting for the source, most often: a thread must never take QEMU down.
                _outcome = -Errno.From(e is ObjectDisposedException ? new OperationCanceledException() : e);
            }
        }, Host.EngineLog);
        return RdmaCsAbi.RDMA_CS_OK;
    }

    public int Sync(uint phase, ulong sequence)
    {
        if (Cancelled)
        {
            return -Errno.ECANCELED;
        }
        if (_server is null)
        {
            Host.Log((int)rdma_cs_log_level.RDMA_CS_LOG_ERROR, "dst_sync before dst_setup");
            return -Errno.EINVAL;
        }
        int outcome = _outcome;
        if (outcome < 0)
        {
            return outcome;
        }
        bool reached = phase switch
        {
            (uint)rdma_cs_phase.RDMA_CS_PHASE_SETUP => _connected,
            (uint)rdma_cs_phase.RDMA_CS_PHASE_ROUND => Volatile.Read(ref _lastFence) >= (long)sequence,
            (uint)rdma_cs_phase.RDMA_CS_PHASE_FINISH => outcome == 1, // access revoked, pages landed
            _ => throw new ArgumentException($"dst_sync: phase {phase} is not SETUP, ROUND or FINISH"),
        };
        return reached ? RdmaCsAbi.RDMA_CS_OK : RdmaCsAbi.RDMA_CS_AGAIN;
    }

    protected override void OnCancel() => _server?.Cancel();

    public override void Dispose()
    {
        _server?.Cancel();
        _session?.Join();
        _server?.Dispose();
        _server = null;
    }
}
