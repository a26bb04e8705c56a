using System.Runtime.CompilerServices;
using RdmaCs.Configuration;
using RdmaCs.Designation;
using RdmaCs.Fabric;
using RdmaCs.Memory;
using RdmaCs.Registration;
using RdmaCs.Selection;
using RdmaCs.Statistics;

namespace RdmaCs.Transfer;

/// <summary>
/// The source side of rdma-cs: pages are <em>designated</em> (from any thread, O(1)); a worker thread
/// <em>selects</em> designated runs asynchronously, <em>registers</em> (pins) each only while the
/// budget allows, <em>writes</em> it to the destination, and deregisters or caches it on completion.
/// <see cref="FlushAsync"/> says when everything designated before it has arrived.
/// </summary>
/// <remarks>
/// The caller owns the fabric and disposes it after the engine. Worker-side state lives in
/// <c>TransferEngine.Worker.cs</c>; this file is what other threads may call.
/// </remarks>
public sealed partial class TransferEngine : IDisposable
{
    private readonly EngineOptions _options;
    private readonly IFabric _fabric;
    private readonly RamBlock[] _ramBlocks;
    private readonly DesignationBitmap[] _bitmaps;
    private readonly int _pageShift;
    private readonly PinnedMemoryBudget _budget;
    private readonly EngineCounters _counters = new();
    private readonly EngineLog _log;
    private readonly Registrar _registrar;
    private readonly RegistrationPool? _pool; // RegistrationThreads > 1: registering and deregistering off the worker
    private readonly BlockSelector _selector;
    private readonly Thread _worker;
    private readonly object _flushLock = new();
    private List<FlushRequest> _pendingFlushes = new(); // guarded by _flushLock
    private Exception? _flushesRefused;                  // guarded by _flushLock: set once the worker has stopped
    private volatile Exception? _failure;
    private volatile bool _stopping;
    private volatile bool _abandoned;
    private bool _disposed;

    public TransferEngine(EngineOptions options, IFabric fabric, IReadOnlyList<RamBlock> ramBlocks, EngineLog? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(fabric);
        ArgumentNullException.ThrowIfNull(ramBlocks);
        options.Validate();
        ValidateRamBlocks(ramBlocks, options.PageSize);

        _options = options;
        _fabric = fabric;
        _ramBlocks = [.. ramBlocks];
        _pageShift = System.Numerics.BitOperations.Log2((uint)options.PageSize);
        _bitmaps = [.. _ramBlocks.Select(block => new DesignationBitmap(block.Length >> _pageShift))];
        _budget = new PinnedMemoryBudget(options.BudgetBytes);
        // What the fabric pins for itself (on a NIC: its fence buffer and queues) comes out of the budget first, for good.
        if (fabric.PinnedForItselfBytes > options.BudgetBytes - options.PageSize)
        {
            throw new ArgumentException(
                $"a budget of {ByteSize.Format(options.BudgetBytes)} leaves less than a page beside the {ByteSize.Format(fabric.PinnedForItselfBytes)} " +
                $"the {fabric.Name} fabric pins for itself");
        }
        _budget.TryReserve(fabric.PinnedForItselfBytes); // fits: the budget is empty and larger, checked above
        if (fabric.RemoteWindowBytes > 0 && fabric.RemoteWindowBytes % options.MaxBlockBytes != 0)
        {
            throw new EngineConfigurationException(
                $"max block {ByteSize.Format(options.MaxBlockBytes)} does not tile the destination's windows of {ByteSize.Format(fabric.RemoteWindowBytes)}: " +
                "a write could cross two (see EngineOptions.FittedTo)");
        }
        _log = log ?? ((_, _) => { });
        bool lockMemory = options.LockMemoryOnSoftwareFabrics && !fabric.RegistrationPins;
        int registering = RegisteringThreads(options, fabric);
        _pool = registering > 1 ? new RegistrationPool(registering, fabric, _budget, WakeWorker, _log) : null;
        _registrar = new Registrar(fabric, _budget, _ramBlocks, options.PageSize, options.PagesPerBlock,
            lockMemory, options.RegistrationCache, _counters, _pool,
            stillNeeded: run => _bitmaps[run.RamBlock].FindNext(run.FirstPage, run.EndPage) >= 0);
        _selector = new BlockSelector(_bitmaps, _registrar, options.PagesPerBlock);
        _inFlight = new InFlightWrite[options.MaxWritesInFlight];
        _zeroScan = options.ZeroPagesAsRanges ? new ZeroPageScan(options.PageSize) : null;
        _freeSlots = new Stack<int>(Enumerable.Range(0, options.MaxWritesInFlight).Reverse());
        fabric.SetCompletionCallback(WakeWorker);

        _log(EngineLogLevel.Info,
            $"engine: fabric {fabric.Name}, budget {ByteSize.Format(options.BudgetBytes)}, max block {ByteSize.Format(options.MaxBlockBytes)}, " +
            $"pinning by {(fabric.RegistrationPins ? "the fabric" : lockMemory ? "mlock" : "nobody (locking disabled)")}, " +
            $"registration cache {(options.RegistrationCache ? "on" : "off")}, " +
            $"{(_pool is null ? "registering on the worker" : $"{_pool.Threads} registering threads")}, {_ramBlocks.Length} RAM block(s), " +
            $"{ByteSize.FormatApproximate(_ramBlocks.Sum(b => b.Length))}");

        _worker = BackgroundThread.Start("rdmacs-selector", RunWorker, _log);
    }

    public int PageSize => _options.PageSize;

    /// <summary>The threads that register: as configured, or (0) 1 on software fabrics and what the NIC's link needs on a NIC.</summary>
    private static int RegisteringThreads(EngineOptions options, IFabric fabric) =>
        options.RegistrationThreads > 0 ? options.RegistrationThreads
        : !fabric.RegistrationPins ? 1
        : fabric.LinkBitsPerSecond > 0 ? RegistrationModel.ThreadsFor(fabric.LinkBitsPerSecond)
        : 2;

    public IReadOnlyList<RamBlock> RamBlocks => _ramBlocks;

    /// <summary>Null while healthy; the error that stopped the engine otherwise.</summary>
    public Exception? Failure => _failure;

    /// <summary>
    /// Designates the page containing byte <paramref name="offset"/> of RAM block <paramref name="ramBlock"/>.
    /// Any thread; O(1); no allocation; false when the page was designated already.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Designate(int ramBlock, long offset) => DesignatePage(ramBlock, offset >> _pageShift);

    /// <summary>Designates page <paramref name="page"/> of RAM block <paramref name="ramBlock"/>; see <see cref="Designate"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool DesignatePage(int ramBlock, long page)
    {
        DesignationBitmap[] bitmaps = _bitmaps;
        if ((uint)ramBlock >= (uint)bitmaps.Length || (ulong)page >= (ulong)bitmaps[ramBlock].PageCount)
        {
            ThrowOutOfRange(ramBlock, page);
        }
        if (!bitmaps[ramBlock].Designate(page))
        {
            return false;
        }
        if (Volatile.Read(ref _sleeping) == SleepingForAnyWork)
        {
            WakeWorker();
        }
        return true;
    }

    /// <summary>
    /// Designates every page that [<paramref name="offset"/>, <paramref name="offset"/> + <paramref name="length"/>) touches,
    /// and wakes the worker once, at the end.
    /// </summary>
    public void DesignateRange(int ramBlock, long offset, long length)
    {
        if (length <= 0)
        {
            return;
        }
        long first = offset >> _pageShift;
        long last = (offset + length - 1) >> _pageShift;
        if ((uint)ramBlock >= (uint)_bitmaps.Length || first < 0 || last >= _bitmaps[ramBlock].PageCount)
        {
            ThrowOutOfRange(ramBlock, first < 0 ? first : last);
        }
        bool any = false;
        for (long page = first; page <= last; page++)
        {
            any |= _bitmaps[ramBlock].Designate(page);
        }
        if (any && Volatile.Read(ref _sleeping) == SleepingForAnyWork)
        {
            WakeWorker();
        }
    }

    /// <summary>
    /// Completes when every page designated before this call has been written and its write has completed;
    /// fails with <see cref="EngineFailedException"/> when the engine has failed.
    /// </summary>
    /// <param name="sequence">The caller's round number; it appears in the log.</param>
    public Task FlushAsync(long sequence, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_failure is { } failure)
        {
            return Task.FromException(Failed(failure));
        }
        var request = new FlushRequest(sequence);
        lock (_flushLock)
        {
            // Checked under the lock the worker takes when it stops, so no request is left behind.
            if (_flushesRefused is { } refused)
            {
                return Task.FromException(refused);
            }
            _pendingFlushes.Add(request);
        }
        WakeWorker();
        return cancellationToken.CanBeCanceled ? request.Task.WaitAsync(cancellationToken) : request.Task;
    }

    /// <summary>Blocking <see cref="FlushAsync"/> with a deadline; throws <see cref="TimeoutException"/> when it passes.</summary>
    public void Flush(long sequence, TimeSpan timeout)
    {
        Task flush = FlushAsync(sequence);
        try
        {
            if (!flush.Wait(timeout))
            {
                throw new TimeoutException(
                    $"flush {sequence} did not finish within {timeout.TotalSeconds:0.###} s ({DescribeBacklog()})");
            }
        }
        catch (AggregateException e) when (e.InnerExceptions.Count == 1)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
        }
    }

    /// <summary>Bytes designated or in flight (handed to the engine, not landed yet); any thread, racy but close.</summary>
    public long BacklogBytes => (_bitmaps.Sum(bitmap => bitmap.CountDesignated()) << _pageShift) + _counters.BytesInFlight;

    /// <summary>
    /// Returns once at most <paramref name="bytes"/> are designated or in flight: the flow control of a round that does
    /// not wait for every page (the caller counts the backlog as pending memory instead). Throws as a flush would: the
    /// engine failed, <paramref name="timeout"/> passed, or <paramref name="cancel"/> fired.
    /// </summary>
    public void WaitForBacklog(long bytes, TimeSpan timeout, CancellationToken cancel = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (true)
        {
            // A failed engine says so even when its backlog is small: the round must not look fine.
            if (_failure is { } failure)
            {
                throw Failed(failure);
            }
            if (BacklogBytes <= bytes)
            {
                return;
            }
            cancel.ThrowIfCancellationRequested();
            if (Environment.TickCount64 > deadline)
            {
                throw new TimeoutException(
                    $"the backlog did not fall to {ByteSize.FormatApproximate(bytes)} within {timeout.TotalSeconds:0.###} s ({DescribeBacklog()})");
            }
            // Polled: the worker need not know who waits, and a millisecond is short beside the round it paces.
            cancel.WaitHandle.WaitOne(1);
        }
    }

    /// <summary>A consistent-enough snapshot of the statistics; cheap, any thread, any time.</summary>
    public EngineStatistics Statistics => new()
    {
        BudgetBytes = _budget.Capacity,
        PinnedBytes = _budget.Reserved,
        PeakPinnedBytes = _budget.Peak,
        Registrations = _counters.Registrations,
        Deregistrations = _counters.Deregistrations,
        RegisteredBytes = _counters.RegisteredBytes,
        CacheHits = _counters.CacheHits,
        Evictions = _counters.Evictions,
        BlocksWritten = _counters.BlocksWritten,
        BytesWritten = _counters.BytesWritten,
        DesignatedPages = _bitmaps.Sum(bitmap => bitmap.CountDesignated()),
        WritesInFlight = _counters.WritesInFlight,
        BudgetWait = _counters.BudgetWait,
        Flushes = _counters.Flushes,
        ZeroPages = _counters.ZeroPages,
        ZeroRanges = _counters.ZeroRanges,
        BacklogBytes = BacklogBytes,
        LandedBytes = _counters.BytesWritten + (_counters.ZeroPages << _pageShift),
        Failure = _failure?.Message,
    };

    /// <summary>
    /// Any thread: the fabric was aborted and its writes in flight will never complete, so <see cref="Dispose"/>
    /// deregisters at once instead of waiting for them (the caller closes the endpoint right after).
    /// </summary>
    public void Abandon() => _abandoned = true;

    /// <summary>Stops the worker, waits for posted writes, and deregisters (unpins) everything.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _stopping = true;
        WakeWorker();
        _worker.Join();
        _pool?.Dispose(); // idle: the worker collected everything before it ended
        _fabric.SetCompletionCallback(null);
        _wake.Dispose();
    }

    private string DescribeBacklog()
    {
        EngineStatistics statistics = Statistics;
        return $"{statistics.DesignatedPages} page(s) designated, {statistics.WritesInFlight} write(s) in flight, " +
               $"{ByteSize.FormatApproximate(statistics.PinnedBytes)} pinned of {ByteSize.FormatApproximate(statistics.BudgetBytes)}";
    }

    private static EngineFailedException Failed(Exception failure) =>
        new($"the transfer engine has failed: {failure.Message}", failure);

    private static void ValidateRamBlocks(IReadOnlyList<RamBlock> ramBlocks, int pageSize)
    {
        if (ramBlocks.Count == 0)
        {
            throw new EngineConfigurationException("no RAM blocks to transfer");
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (RamBlock block in ramBlocks)
        {
            if (string.IsNullOrEmpty(block.Name) || !names.Add(block.Name))
            {
                throw new EngineConfigurationException($"RAM block name '{block.Name}' is empty or not unique");
            }
            if (block.Length <= 0 || block.Length % pageSize != 0)
            {
                throw new EngineConfigurationException(
                    $"RAM block '{block.Name}' is {block.Length} bytes long, not a positive whole number of {pageSize}-byte pages");
            }
            if (block.Address == 0 || block.Address % pageSize != 0)
            {
                throw new EngineConfigurationException(
                    $"RAM block '{block.Name}' at 0x{block.Address:x} is not aligned to the page size {pageSize}");
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowOutOfRange(int ramBlock, long page)
    {
        if ((uint)ramBlock >= (uint)_bitmaps.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(ramBlock), ramBlock, $"there are {_bitmaps.Length} RAM block(s)");
        }
        throw new ArgumentOutOfRangeException(nameof(page), page,
            $"RAM block '{_ramBlocks[ramBlock].Name}' has {_bitmaps[ramBlock].PageCount} page(s)");
    }

    /// <summary>One caller waiting for a flush.</summary>
    private sealed class FlushRequest(long sequence)
    {
        private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public long Sequence { get; } = sequence;

        public Task Task => _completion.Task;

        public void Complete() => _completion.TrySetResult();

        public void Fail(Exception error) => _completion.TrySetException(error);
    }
}
