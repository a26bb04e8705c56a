using RdmaCs.Bindings.Plugin;
using RdmaCs.Configuration;
using RdmaCs.Fabric.Memory;
using RdmaCs.Remote;
using RdmaCs.Transfer;

namespace RdmaCs.Native;

/// <summary>The source role: RAM blocks from src_setup, a session to the destination from src_wait_ready, then pages.</summary>
internal sealed unsafe class SourcePlugin(HostApi host, PluginOptions options, string hostName, string port, int pageSize)
    : PluginContext(host, options, hostName, port, pageSize)
{
    private readonly int _pageShift = System.Numerics.BitOperations.Log2((uint)pageSize);
    private RamBlock[] _blocks = [];
    private SourceSession? _session;
    private MemoryFabric? _loopback;
    private List<Memory.AlignedBuffer> _loopbackMemory = [];
    private TransferEngine? _engine;
    private long _pagesReceived;
    private readonly CancellationTokenSource _cancelOpen = new();

    public int Setup(rdma_cs_block* blocks, uint count, byte* blob, uint* blobLength)
    {
        _blocks = Blocks(blocks, count);
        Options.EngineOptions(PageSize); // refuse a bad budget now, before QEMU starts sending
        if (Options.Fabric == "libfabric")
        {
            Options.RequireToken();
        }
        if (blobLength != null)
        {
            *blobLength = 0; // the destination listens on a known port; nothing to carry in the stream
        }
        Host.Log((int)rdma_cs_log_level.RDMA_CS_LOG_INFO,
            $"source: {_blocks.Length} RAM block(s), {Configuration.ByteSize.FormatApproximate(_blocks.Sum(b => b.Length))}, budget {ByteSize.Format(Options.BudgetBytes)}, fabric {Options.Fabric}");
        return RdmaCsAbi.RDMA_CS_OK;
    }

    public int WaitReady()
    {
        EngineOptions engineOptions = Options.EngineOptions(PageSize);
        if (Options.Fabric == "memory")
        {
            // A loopback with destination buffers of this process: measures the ABI and the engine, no network.
            _loopbackMemory = [.. _blocks.Select(b => new Memory.AlignedBuffer(b.Length))];
            _loopback = new MemoryFabric([.. _blocks.Select((b, i) => new RamBlock(b.Name, _loopbackMemory[i].Address, b.Length))]);
            _engine = new TransferEngine(engineOptions, _loopback, _blocks, Host.EngineLog);
            return RdmaCsAbi.RDMA_CS_OK;
        }
        var sourceOptions = new SourceOptions
        {
            Host = HostName,
            Port = Options.ControlPortFor(Port),
            Token = Options.RequireToken(),
            Provider = Options.Provider,
            HandshakeTimeout = Options.Timeout,
            RoundTimeout = Options.Timeout,
        };
        // The destination listens from migrate-incoming on, before QEMU's own stream could reach it: a refused
        // connection means nobody is there (it died, or another port was given), not "not yet".
        return RunPolled("src_wait_ready", () =>
        {
            _session = SourceSession.Open(sourceOptions, engineOptions, _blocks, Host.EngineLog, _cancelOpen.Token);
            _engine = _session.Engine;
        });
    }

    /// <summary>
    /// How far a round's end lets the backlog down before QEMU goes on: half the budget, so that the engine still has
    /// that much to write while QEMU syncs its dirty bitmap and hands over the next pages, and QEMU's pending figure
    /// (which includes the backlog) can still fall below its switchover threshold.
    /// </summary>
    private long RoundLowWater => Options.BudgetBytes / 2;

    /// <summary>The hot path: one designation, no allocation, no lock.</summary>
    public int SavePage(uint block, ulong offset, ulong length)
    {
        TransferEngine? engine = _engine;
        if (Cancelled)
        {
            return -Errno.ECANCELED;
        }
        // offset + length could wrap: compare each with the block's length instead.
        if (engine is null || block >= (uint)_blocks.Length || length == 0 ||
            length > (ulong)_blocks[block].Length || offset > (ulong)_blocks[block].Length - length)
        {
            return Misuse(block, offset, length, engine is null);
        }
        if (length == (ulong)PageSize)
        {
            engine.DesignatePage((int)block, (long)(offset >> _pageShift));
        }
        else
        {
            engine.DesignateRange((int)block, (long)offset, (long)length);
        }
        _pagesReceived++;
        return RdmaCsAbi.RDMA_CS_OK;
    }

    public int IterationEnd(uint phase, ulong sequence)
    {
        if (_engine is null)
        {
            Host.Log((int)rdma_cs_log_level.RDMA_CS_LOG_ERROR, "src_iter_end before src_wait_ready");
            return -Errno.EINVAL;
        }
        bool finish = phase == (uint)rdma_cs_phase.RDMA_CS_PHASE_FINISH;
        return RunPolled("src_iter_end", () =>
        {
            if (!finish && Host.CountsBacklog)
            {
                // QEMU counts the backlog as pending and credits bytes as they land: let it hand over more pages while
                // the engine still has work, rather than stall both at every round's end.
                if (_session is null)
                {
                    _engine.WaitForBacklog(RoundLowWater, Options.Timeout);
                }
                else
                {
                    _session.PaceRound(RoundLowWater);
                }
                return;
            }
            if (_session is null)
            {
                _engine.Flush((long)sequence, Options.Timeout);
                return;
            }
            _session.CompleteRound((long)sequence);
            if (finish)
            {
                VerificationResult result = _session.Finish(Options.Verify);
                if (!result.Verified)
                {
                    throw new IOException($"verification failed: {result.Detail}");
                }
                Host.Log((int)rdma_cs_log_level.RDMA_CS_LOG_INFO, $"source: finished; {result.Detail}");
            }
        });
    }

    public override void FillStatistics(rdma_cs_stats* statistics)
    {
        Statistics.EngineStatistics? engine = _engine?.Statistics;
        statistics->pages_received = (ulong)Volatile.Read(ref _pagesReceived);
        if (engine is not { } s)
        {
            statistics->budget_bytes = (ulong)Options.BudgetBytes;
            return;
        }
        statistics->budget_bytes = (ulong)s.BudgetBytes;
        statistics->pinned_bytes = (ulong)s.PinnedBytes;
        statistics->peak_pinned_bytes = (ulong)s.PeakPinnedBytes;
        statistics->registrations = (ulong)s.Registrations;
        statistics->deregistrations = (ulong)s.Deregistrations;
        statistics->cache_hits = (ulong)s.CacheHits;
        statistics->evictions = (ulong)s.Evictions;
        statistics->blocks_written = (ulong)s.BlocksWritten;
        statistics->bytes_written = (ulong)s.BytesWritten;
        statistics->designated_pages = (ulong)s.DesignatedPages;
        statistics->writes_in_flight = (ulong)s.WritesInFlight;
        statistics->budget_wait_ns = (ulong)(s.BudgetWait.Ticks * 100);
        statistics->zero_pages = (ulong)s.ZeroPages;
        statistics->backlog_bytes = (ulong)s.BacklogBytes;
        statistics->landed_bytes = (ulong)s.LandedBytes;
    }

    protected override void OnCancel()
    {
        _cancelOpen.Cancel(); // a session still being opened
        _session?.Abort();
    }

    public override void Dispose()
    {
        if (_session is not null)
        {
            _session.Dispose();
        }
        else
        {
            _engine?.Dispose();
        }
        _loopback?.Dispose();
        _loopbackMemory.ForEach(buffer => buffer.Dispose());
        _cancelOpen.Dispose();
        _session = null;
        _engine = null;
        _loopback = null;
    }

    private int Misuse(uint block, ulong offset, ulong length, bool notReady)
    {
        Host.Log((int)rdma_cs_log_level.RDMA_CS_LOG_ERROR, notReady
            ? "src_save_page before src_wait_ready succeeded"
            : block >= (uint)_blocks.Length
                ? $"src_save_page: block {block} does not exist ({_blocks.Length} RAM block(s))"
                : length == 0
                    ? "src_save_page: a page of 0 bytes"
                    : $"src_save_page: {length} bytes at offset {offset} leave RAM block '{_blocks[block].Name}' ({_blocks[block].Length} bytes)");
        return -Errno.EINVAL;
    }
}
