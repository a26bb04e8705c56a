using RdmaCs.Bindings.Plugin;
using RdmaCs.Remote;
using RdmaCs.Transfer;

namespace RdmaCs.Native;

/// <summary>
/// The destination role. It listens on its control port from <c>migrate-incoming</c> on (create), so that nothing else
/// can take that port before the source arrives, and so that a source that finds nobody there knows at once that no
/// destination is listening. dst_setup gives the RAM blocks to expose; dst_sync reports, without blocking, whether the
/// source has connected (SETUP) and whether every page has landed and access is revoked (FINISH).
/// </summary>
internal sealed unsafe class DestinationPlugin : PluginContext
{
    private readonly DestinationServer _server;
    private readonly Thread _session;
    private volatile bool _connected;
    private volatile bool _blocksGiven;
    private volatile int _outcome; // 0 running, 1 finished and verified, -errno failed

    public DestinationPlugin(HostApi host, PluginOptions options, string hostName, string port, int pageSize)
        : base(host, options, hostName, port, pageSize)
    {
        _server = DestinationServer.ExposeLater(new DestinationOptions
        {
            ListenHost = HostName,
            Port = Options.ControlPortFor(Port),
            Token = Options.RequireToken(),
            Provider = Options.Provider,
            BudgetBytes = Options.BudgetBytes,
            HandshakeTimeout = Options.Timeout,
            IdleTimeout = Options.Timeout,
            Connected = () => _connected = true,
        }, PageSize, Host.EngineLog);
        Host.Log((int)rdma_cs_log_level.RDMA_CS_LOG_INFO, $"destination: waiting for the source on {HostName}:{_server.Port}");
        _session = BackgroundThread.Start("rdmacs-destination-session", Serve, Host.EngineLog);
    }

    public int Setup(rdma_cs_block* blocks, uint count)
    {
        RamBlock[] table = Blocks(blocks, count);
        _server.SetBlocks(table);
        _blocksGiven = true;
        Host.Log((int)rdma_cs_log_level.RDMA_CS_LOG_INFO, $"destination: {table.Length} RAM block(s) to expose to the source");
        return RdmaCsAbi.RDMA_CS_OK;
    }

    public int Sync(uint phase, ulong sequence)
    {
        if (Cancelled)
        {
            return -Errno.ECANCELED;
        }
        if (!_blocksGiven)
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
            (uint)rdma_cs_phase.RDMA_CS_PHASE_ROUND => true, // nothing waits for a round's pages before FINISH
            (uint)rdma_cs_phase.RDMA_CS_PHASE_FINISH => outcome == 1, // access revoked, pages landed
            _ => throw new ArgumentException($"dst_sync: phase {phase} is not SETUP, ROUND or FINISH"),
        };
        return reached ? RdmaCsAbi.RDMA_CS_OK : RdmaCsAbi.RDMA_CS_AGAIN;
    }

    /// <summary>
    /// Serves until the source has been admitted and its session ended: a peer that never proves it is the source
    /// (a wrong token, not the protocol, gone before its hello) is refused and logged, and the port stays open for the
    /// real one. QEMU's own deadline for the source bounds the wait; cancel ends it.
    /// </summary>
    private void Serve()
    {
        try
        {
            while (true)
            {
                DestinationSessionResult result = _server.ServeOne();
                if (!result.Admitted && !Cancelled)
                {
                    Host.Log((int)rdma_cs_log_level.RDMA_CS_LOG_WARN,
                        $"destination: refused {result.Peer}: {result.Error}; still waiting for the source");
                    continue;
                }
                _outcome = result.Error is null && result.Verified ? 1 : -Errno.EIO;
                return;
            }
        }
        catch (Exception e)
        {
            // Cancelled while waiting for the source, most often: a thread must never take QEMU down.
            _outcome = -Errno.From(e is ObjectDisposedException ? new OperationCanceledException() : e);
        }
    }

    /// <summary>What this host has pinned for the source's writes: its windows (and fence target, on a NIC), against its budget.</summary>
    public override void FillStatistics(rdma_cs_stats* statistics)
    {
        DestinationStatistics pinned = _server.Statistics;
        statistics->budget_bytes = (ulong)pinned.BudgetBytes;
        statistics->pinned_bytes = (ulong)pinned.PinnedBytes;
        statistics->peak_pinned_bytes = (ulong)pinned.PeakPinnedBytes;
        statistics->registrations = (ulong)pinned.Registrations;
        statistics->deregistrations = (ulong)pinned.Deregistrations;
    }

    protected override void OnCancel() => _server.Cancel();

    public override void Dispose()
    {
        _server.Cancel();
        _session.Join();
        _server.Dispose();
    }
}
