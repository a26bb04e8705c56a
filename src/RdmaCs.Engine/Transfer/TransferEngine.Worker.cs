using System.Diagnostics;
using RdmaCs.Designation;
using RdmaCs.Fabric;
using RdmaCs.Memory;
using RdmaCs.Registration;
using RdmaCs.Selection;

namespace RdmaCs.Transfer;

// The worker thread: everything here runs on it alone, so none of it takes a lock
// (the flush request list is the one thing shared, under _flushLock).
public sealed partial class TransferEngine
{
    private const int Awake = 0;
    private const int SleepingForAnyWork = 1;       // woken by designations, completions, flushes, stop
    private const int SleepingForCompletions = 2;   // blocked on budget or queue depth: designations don't wake it

    private readonly ManualResetEventSlim _wake = new(false);
    private readonly InFlightWrite[] _inFlight;   // by completion context
    private readonly Stack<int> _freeSlots;       // free indexes of _inFlight
    private readonly List<int> _zeroSlots = new(); // indexes of _inFlight that are zero ranges
    private readonly ZeroPageScan? _zeroScan;      // null when zero pages are written like any other
    private int _sleeping;                        // Awake or one of the Sleeping* states; written by the worker
    private List<FlushRequest> _sweepRequests = new(); // flushes the current sweep will complete
    private bool _sweeping;                      // a flush sweep is under way
    private bool _sweepScanned;                  // the sweep has passed the last page: only completions are awaited
    private long _budgetWaitStart;               // Stopwatch timestamp when selection first found no budget; 0 if not waiting
    private (int Block, long Index) _lastWindow = (-1, -1); // the destination window the last write went to

    private enum PostOutcome
    {
        Posted,
        NothingDesignated,
        NoBudget,
        WaitingForOverlap, // the next run overlaps a zero range in flight (or, on an unordered fabric, a write)
    }

    /// <summary>
    /// A posted write (or, without a registration, zero range): what to release when it completes. A scattered write's
    /// pages lie within [FirstPage, + SpanPages), with clean pages between; Bytes counts only the pages written.
    /// </summary>
    private readonly record struct InFlightWrite(RegisteredRun? Registration, int RamBlock, long FirstPage, long SpanPages, long Bytes)
    {
        public bool IsZeroRange => Registration is null;
    }

    /// <summary>A run of designated pages that one write carries as one of its segments.</summary>
    private readonly record struct PageRun(long FirstPage, int Pages)
    {
        public long EndPage => FirstPage + Pages;
    }

    private int WritesInFlight => _options.MaxWritesInFlight - _freeSlots.Count;

    private void WakeWorker()
    {
        // The plain read first: completions arrive per write, and the worker is usually awake.
        if (Volatile.Read(ref _sleeping) != Awake && Interlocked.Exchange(ref _sleeping, Awake) != Awake)
        {
            try
            {
                _wake.Set();
            }
            catch (ObjectDisposedException)
            {
                // A fabric thread's late completion after Dispose: the worker is gone, nothing to wake.
            }
        }
    }

    private void RunWorker()
    {
        var completions = new FabricCompletion[64];
        try
        {
            while (!_stopping)
            {
                bool progress = ReapCompletions(completions) > 0;
                _registrar.CollectDone();
                RegisterAhead(); // budget a deregistration gave back goes to the next registration at once
                StartSweepIfRequested();
                PostOutcome outcome = PostWhileRoom(ref progress);
                if (_sweeping && _sweepScanned && WritesInFlight == 0)
                {
                    FinishSweep();
                    progress = true;
                }
                if (!progress)
                {
                    bool blocked = outcome is PostOutcome.NoBudget or PostOutcome.WaitingForOverlap ||
                                   (outcome == PostOutcome.Posted && WritesInFlight > 0);
                    Sleep(blocked ? SleepingForCompletions : SleepingForAnyWork);
                }
            }
            FailFlushes(new ObjectDisposedException(nameof(TransferEngine), "the transfer engine was disposed before the flush finished"));
        }
        catch (Exception e)
        {
            _failure = e;
            // A warning: whoever waits on the engine reports the failure, with its cause when it knows better (the
            // destination's own reason for hanging up); the host takes its first error line as the migration's error.
            _log(EngineLogLevel.Warning, $"engine: failed: {e.Message}");
            FailFlushes(Failed(e));
        }
        finally
        {
            ReleaseEverything(completions);
            _zeroScan?.Dispose();
        }
    }

    /// <summary>Posts writes until nothing is designated, the budget is full, or the queue is.</summary>
    private PostOutcome PostWhileRoom(ref bool progress)
    {
        PostOutcome outcome = PostOutcome.Posted;
        while (WritesInFlight < _options.MaxWritesInFlight)
        {
            outcome = PostNext();
            if (outcome != PostOutcome.Posted)
            {
                break;
            }
            progress = true;
        }
        if (outcome == PostOutcome.NoBudget)
        {
            if (_budgetWaitStart == 0)
            {
                _budgetWaitStart = Stopwatch.GetTimestamp();
            }
        }
        else if (_budgetWaitStart != 0)
        {
            _counters.WaitedForBudget(Stopwatch.GetTimestamp() - _budgetWaitStart);
            _budgetWaitStart = 0;
        }
        return outcome;
    }

    /// <summary>
    /// Select → (all-zero pages: a zero range, nothing pinned) → register (unless a live registration covers the run)
    /// → clear designation → write.
    /// </summary>
    private PostOutcome PostNext()
    {
        if (HoldSelection)
        {
            return PostOutcome.NothingDesignated;
        }
        if (!_selector.TrySelect(out Candidate candidate))
        {
            if (_sweeping)
            {
                _sweepScanned = true;
            }
            return PostOutcome.NothingDesignated;
        }

        if (candidate.Covering is { IsReady: false })
        {
            return PostOutcome.WaitingForOverlap; // the pool is registering (or deregistering) it: it wakes the worker when done
        }
        int wanted = candidate.Pages;
        if (_zeroScan is not null)
        {
            int run = LeadingRun(candidate.RamBlock, candidate.FirstPage, candidate.Pages, out bool zero);
            if (zero)
            {
                PostZeroPages(candidate, run); // zero ranges pin nothing: they need not stop where the chunk does
                return PostOutcome.Posted;
            }
            wanted = Math.Min(run, candidate.Pages);
        }
        wanted = BridgeGaps(candidate, wanted);
        // A write may not overtake the clearing of a zero range over the same pages (it would be cleared), nor, where
        // the fabric does not keep writes in order, another write to the same pages (the older could land last).
        if (OverlapsInFlight(candidate.RamBlock, candidate.FirstPage, wanted, writesToo: !_fabric.OrdersWrites))
        {
            return PostOutcome.WaitingForOverlap;
        }

        // While writes are in flight, a completion will soon free a whole block: shrinking a run far below one
        // would only splinter the budget into small registrations that stay small (a run is registered as it is).
        int minimumPages = WritesInFlight > 0 ? Math.Max(1, _options.PagesPerBlock / 4) : 1;
        RegisteredRun? registration = candidate.Covering
            ?? _registrar.TryRegister(candidate.RamBlock, candidate.FirstPage, wanted, minimumPages);
        if (registration is null)
        {
            return PostOutcome.NoBudget;
        }
        if (candidate.Covering is not null)
        {
            _counters.CacheHit();
        }

        // TryRegister may have shrunk the run to what the budget allowed.
        Span<PageRun> runs = stackalloc PageRun[_fabric.MaxWriteSegments];
        runs[0] = new PageRun(candidate.FirstPage, (int)Math.Min(wanted, registration.EndPage - candidate.FirstPage));
        int count = GatherRuns(candidate.RamBlock, registration, runs);
        PostWrite(registration, candidate.RamBlock, runs[..count]);
        _selector.Advance(candidate, (int)(runs[count - 1].EndPage - candidate.FirstPage));
        _aheadFrom = (candidate.RamBlock, registration.EndPage);
        RegisterAhead();
        return PostOutcome.Posted;
    }

    private (int Block, long Page) _aheadFrom; // where the chunks to register ahead are looked for: after the last write's

    /// <summary>
    /// With registering threads: has them register the next chunks that hold designated pages and no registration, after
    /// the last write's registration, so that the writes after it find their registrations ready. At most two per thread
    /// are under way at once; the budget they take is what the worker would take a moment later.
    /// </summary>
    private void RegisterAhead()
    {
        if (_pool is null)
        {
            return;
        }
        (int block, long page) = _aheadFrom;
        for (int looks = 0; _registrar.Outstanding < 2 * _pool.Threads && block < _bitmaps.Length && looks < 4 * _pool.Threads; looks++)
        {
            if (!NextDesignated(ref block, ref page, out long next))
            {
                continue;
            }
            DesignationBitmap bitmap = _bitmaps[block];
            long chunkEnd = Math.Min((next / _options.PagesPerBlock + 1) * _options.PagesPerBlock, bitmap.PageCount);
            page = chunkEnd;
            if (_registrar.FindCovering(block, next) is not null)
            {
                continue;
            }
            if (_zeroScan is not null)
            {
                // Pages that will go as a zero range need no registration (and pinning never-touched ones allocates them).
                int run = LeadingRun(block, next, bitmap.CountRun(next, (int)(chunkEnd - next)), out bool zero);
                if (zero)
                {
                    page = next + run;
                    continue;
                }
            }
            // The whole free stretch of the chunk around it, as the worker would register it (see Registrar.TryRegister).
            (long start, long end) = _registrar.FreeSpan(block, next, next + 1);
            if (!_registrar.TryRegisterAhead(block, start, (int)(end - start)))
            {
                return; // no budget now: the worker's own registrations come first
            }
        }
    }

    /// <summary>
    /// Where one write may carry several segments (the tcp provider: each write is a message, and its cost is per
    /// message, not per byte), adds to <paramref name="runs"/>[0] the next designated data runs inside the same
    /// registration, each as <see cref="PostNext"/> would have chosen it alone; returns how many runs there are. Stops at
    /// a zero stretch (it goes as a zero range) and at pages a write or zero range in flight still holds.
    /// </summary>
    private int GatherRuns(int ramBlock, RegisteredRun registration, Span<PageRun> runs)
    {
        DesignationBitmap bitmap = _bitmaps[ramBlock];
        int count = 1;
        while (count < runs.Length)
        {
            long next = bitmap.FindNext(runs[count - 1].EndPage, registration.EndPage);
            if (next < 0)
            {
                break;
            }
            int pages = bitmap.CountRun(next, (int)(registration.EndPage - next));
            if (_zeroScan is not null)
            {
                pages = Math.Min(pages, LeadingRun(ramBlock, next, pages, out bool zero));
                if (zero)
                {
                    break;
                }
            }
            pages = BridgeGaps(new Candidate(ramBlock, next, pages, registration, registration.EndPage), pages);
            if (OverlapsInFlight(ramBlock, next, pages, writesToo: !_fabric.OrdersWrites))
            {
                break;
            }
            runs[count++] = new PageRun(next, pages);
        }
        return count;
    }

    /// <summary>
    /// How the designated pages from <paramref name="firstPage"/> begin: a zero range (<paramref name="zero"/>), or a data
    /// run of the length returned. A zero stretch may run on past the <paramref name="pages"/> designated pages the caller
    /// may write (a chunk's end stops those), so the look goes along the designated run beyond them: a long stretch across
    /// a chunk boundary is one zero range, not two short stretches written as data. Zero ranges pin nothing, so they
    /// need not stop where a chunk does.
    /// </summary>
    private int LeadingRun(int ramBlock, long firstPage, int pages, out bool zero)
    {
        RamBlock block = _ramBlocks[ramBlock];
        int lookahead = Math.Max(pages, _bitmaps[ramBlock].CountRun(firstPage, ZeroPageScan.PagesPerLookup));
        return _zeroScan!.LeadingRun(block.Address + (nint)(firstPage << _pageShift), lookahead, block.PrivateAnonymous,
            _options.MinZeroRangePages, out zero);
    }

    /// <summary>
    /// Extends a data run of <paramref name="pages"/> pages from the candidate's first across gaps of at most
    /// <see cref="EngineOptions.MaxGapPages"/> clean pages to the designated data runs after them, within the candidate's
    /// limit; never into pages that should go as a zero range.
    /// </summary>
    private int BridgeGaps(in Candidate candidate, int pages)
    {
        DesignationBitmap bitmap = _bitmaps[candidate.RamBlock];
        while (_options.MaxGapPages > 0)
        {
            long end = candidate.FirstPage + pages;
            long next = bitmap.FindNext(end, Math.Min(end + _options.MaxGapPages + 1, candidate.Limit));
            if (next < 0)
            {
                return pages;
            }
            int run = bitmap.CountRun(next, (int)Math.Min(candidate.Limit - next, int.MaxValue));
            if (_zeroScan is not null)
            {
                run = Math.Min(run, LeadingRun(candidate.RamBlock, next, run, out bool zero));
                if (zero)
                {
                    return pages;
                }
            }
            pages = (int)(next + run - candidate.FirstPage);
        }
        return pages;
    }

    private void PostWrite(RegisteredRun registration, int ramBlock, ReadOnlySpan<PageRun> runs)
    {
        Span<WriteSegment> segments = stackalloc WriteSegment[runs.Length];
        long bytes = 0;
        for (int i = 0; i < runs.Length; i++)
        {
            // Cleared before the write reads the pages: a later change designates them again.
            _bitmaps[ramBlock].Clear(runs[i].FirstPage, runs[i].Pages);
            long offset = runs[i].FirstPage << _pageShift;
            long length = (long)runs[i].Pages << _pageShift;
            segments[i] = new WriteSegment(_ramBlocks[ramBlock].Address + (nint)offset, length, offset);
            bytes += length;
        }

        long firstPage = runs[0].FirstPage;
        int slot = _freeSlots.Pop();
        _inFlight[slot] = new InFlightWrite(registration, ramBlock, firstPage, runs[^1].EndPage - firstPage, bytes);
        _registrar.BeginWrite(registration);
        _counters.WritePosted(bytes);
        try
        {
            _fabric.PostWrite(registration.Handle, segments, ramBlock, (ulong)slot);
        }
        catch
        {
            // Nothing was posted: undo, so the failure path does not wait for a completion that never comes.
            _counters.WriteCompleted(bytes, succeeded: false);
            _inFlight[slot] = default;
            _freeSlots.Push(slot);
            _registrar.EndWrite(registration);
            throw;
        }
        PrefetchAfter(ramBlock, segments[0].RemoteOffset);
    }

    /// <summary>
    /// One step of a walk forward over designated pages, across RAM blocks (registering ahead, naming windows ahead): the
    /// first designated page at or after <paramref name="page"/> of <paramref name="block"/>, or, when that block has none
    /// left, false and the start of the next block.
    /// </summary>
    private bool NextDesignated(ref int block, ref long page, out long next)
    {
        DesignationBitmap bitmap = _bitmaps[block];
        next = page < bitmap.PageCount ? bitmap.FindNext(page, bitmap.PageCount) : -1;
        if (next >= 0)
        {
            return true;
        }
        block++;
        page = 0;
        return false;
    }

    /// <summary>
    /// When a write enters a new destination window, names the next windows that hold designated data to the fabric, so
    /// that the destination registers them while this one is written. Runs that would go as zero ranges need no window
    /// (and registering one would make the destination allocate its pages), so they are skipped, up to a few looks.
    /// </summary>
    private void PrefetchAfter(int ramBlock, long offset)
    {
        long windowBytes = _fabric.RemoteWindowBytes;
        int wanted = _fabric.PrefetchWindows;
        if (wanted == 0 || (ramBlock, offset / windowBytes) == _lastWindow)
        {
            return;
        }
        _lastWindow = (ramBlock, offset / windowBytes);
        int block = ramBlock;
        long page = (offset / windowBytes + 1) * windowBytes >> _pageShift;
        for (int named = 0, looks = 0; named < wanted && looks < 4 * wanted && block < _bitmaps.Length; looks++)
        {
            if (!NextDesignated(ref block, ref page, out long next))
            {
                continue;
            }
            DesignationBitmap bitmap = _bitmaps[block];
            int run = bitmap.CountRun(next, (int)Math.Min(bitmap.PageCount - next, windowBytes >> _pageShift));
            bool zero = false;
            if (_zeroScan is not null)
            {
                run = LeadingRun(block, next, run, out zero);
            }
            if (zero)
            {
                page = next + run;
                continue;
            }
            _fabric.Prefetch(block, next << _pageShift);
            named++;
            page = ((next << _pageShift) / windowBytes + 1) * windowBytes >> _pageShift;
        }
    }

    /// <summary>
    /// Sends the <paramref name="pages"/> pages from the candidate's first, which a look found all zero, as a zero range.
    /// As for a write, their designation is cleared <em>before</em> the pages are read for the last time: a page the guest
    /// fills after that read is designated again by QEMU and sent later, while one it filled between the first look and
    /// the clearing is seen now, designated again here, and left out of the range. (Clearing after the only look lost
    /// such a page: it arrived as zero.)
    /// </summary>
    private void PostZeroPages(in Candidate candidate, int pages)
    {
        BeforeZeroPagesClaimed?.Invoke(candidate.RamBlock, candidate.FirstPage, pages);
        RamBlock block = _ramBlocks[candidate.RamBlock];
        DesignationBitmap bitmap = _bitmaps[candidate.RamBlock];
        bitmap.Clear(candidate.FirstPage, pages);
        nint first = block.Address + (nint)(candidate.FirstPage << _pageShift);
        int zeroPages = _zeroScan!.ZeroPrefix(first, pages, block.PrivateAnonymous);
        for (long page = candidate.FirstPage + zeroPages; page < candidate.FirstPage + pages; page++)
        {
            bitmap.Designate(page);
        }
        if (zeroPages > 0)
        {
            PostZeroRange(candidate.RamBlock, candidate.FirstPage, zeroPages);
            _selector.Advance(candidate, zeroPages);
        }
    }

    /// <summary>
    /// A test's way into the window between the first look at zero pages and the clearing of their designation:
    /// (RAM block, first page, pages). Worker thread.
    /// </summary>
    internal Action<int, long, int>? BeforeZeroPagesClaimed { get; set; }

    /// <summary>
    /// A test's way to hand over several scattered pages that the worker sees together: while set, it selects nothing
    /// (and sleeps); a flush or designation after clearing it wakes the worker.
    /// </summary>
    internal bool HoldSelection
    {
        get => Volatile.Read(ref _holdSelection);
        set => Volatile.Write(ref _holdSelection, value);
    }

    private bool _holdSelection;

    /// <summary>Asks the destination to clear pages whose designation is already cleared; no registration, no data sent.</summary>
    private void PostZeroRange(int ramBlock, long firstPage, int pages)
    {
        long bytes = (long)pages << _pageShift;
        int slot = _freeSlots.Pop();
        _inFlight[slot] = new InFlightWrite(null, ramBlock, firstPage, pages, bytes);
        _zeroSlots.Add(slot);
        _counters.WritePosted(bytes);
        try
        {
            _fabric.PostZero(ramBlock, firstPage << _pageShift, bytes, (ulong)slot);
        }
        catch
        {
            _counters.ZeroCompleted(pages, bytes, succeeded: false);
            _inFlight[slot] = default;
            _zeroSlots.Remove(slot);
            _freeSlots.Push(slot);
            throw;
        }
    }

    /// <summary>Whether a zero range in flight (with <paramref name="writesToo"/>, any write in flight) touches these pages.</summary>
    private bool OverlapsInFlight(int ramBlock, long firstPage, int pages, bool writesToo)
    {
        if (!writesToo)
        {
            foreach (int slot in _zeroSlots)
            {
                if (Overlaps(_inFlight[slot], ramBlock, firstPage, pages))
                {
                    return true;
                }
            }
            return false;
        }
        for (int slot = 0; slot < _inFlight.Length; slot++)
        {
            if (_inFlight[slot].Bytes > 0 && Overlaps(_inFlight[slot], ramBlock, firstPage, pages))
            {
                return true;
            }
        }
        return false;
    }

    private bool Overlaps(in InFlightWrite write, int ramBlock, long firstPage, int pages) =>
        write.RamBlock == ramBlock && write.FirstPage < firstPage + pages && firstPage < write.FirstPage + write.SpanPages;

    /// <summary>Processes every completion ready now; throws for the first failed write after processing them all.</summary>
    private int ReapCompletions(FabricCompletion[] buffer)
    {
        int total = 0;
        FabricException? firstError = null;
        int count;
        while ((count = _fabric.PollCompletions(buffer)) > 0)
        {
            for (int i = 0; i < count; i++)
            {
                FabricCompletion completion = buffer[i];
                int slot = (int)completion.Context;
                InFlightWrite write = _inFlight[slot];
                _inFlight[slot] = default;
                _freeSlots.Push(slot);
                if (write.Registration is { } registration)
                {
                    _counters.WriteCompleted(write.Bytes, completion.Succeeded);
                    _registrar.EndWrite(registration);
                }
                else
                {
                    _zeroSlots.Remove(slot);
                    _counters.ZeroCompleted(write.Bytes >> _pageShift, write.Bytes, completion.Succeeded);
                }
                if (!completion.Succeeded && firstError is null)
                {
                    RamBlock block = _ramBlocks[write.RamBlock];
                    string what = write.IsZeroRange ? "clearing a zero range" : "RDMA write";
                    firstError = new FabricException(
                        $"{what} of {write.Bytes} bytes of RAM block '{block.Name}' at offset 0x{write.FirstPage << _pageShift:x} failed: " +
                        $"{completion.Message ?? "no reason given"} ({completion.Error})", completion.Error);
                }
            }
            total += count;
        }
        if (firstError is not null)
        {
            throw firstError;
        }
        return total;
    }

    private void StartSweepIfRequested()
    {
        if (_sweeping)
        {
            return;
        }
        lock (_flushLock)
        {
            if (_pendingFlushes.Count == 0)
            {
                return;
            }
            (_sweepRequests, _pendingFlushes) = (_pendingFlushes, _sweepRequests);
        }
        _sweeping = true;
        _sweepScanned = false;
        _selector.BeginSweep();
    }

    private void FinishSweep()
    {
        _sweeping = false;
        _selector.EndSweep();
        foreach (FlushRequest request in _sweepRequests)
        {
            _counters.Flushed();
            _log(EngineLogLevel.Debug, $"engine: flush {request.Sequence} done");
            request.Complete();
        }
        _sweepRequests.Clear();
    }

    private void FailFlushes(Exception error)
    {
        List<FlushRequest> pending;
        lock (_flushLock)
        {
            _flushesRefused = error;
            pending = [.. _sweepRequests, .. _pendingFlushes];
            _sweepRequests.Clear();
            _pendingFlushes.Clear();
        }
        foreach (FlushRequest request in pending)
        {
            request.Fail(error);
        }
    }

    /// <summary>
    /// Sleeps until woken. The state is published before the last look for work, and wakers set the event
    /// after publishing their work, so a wake-up cannot fall between the look and the wait.
    /// </summary>
    private void Sleep(int state)
    {
        _wake.Reset();
        Interlocked.Exchange(ref _sleeping, state);
        if (_stopping || (HasWork(state) && !HoldSelection))
        {
            Interlocked.Exchange(ref _sleeping, Awake);
            return;
        }
        _wake.Wait();
    }

    private bool HasWork(int state)
    {
        if (_fabric.HasCompletions || _pool?.HasDone == true)
        {
            return true;
        }
        if (state == SleepingForCompletions)
        {
            return false;
        }
        lock (_flushLock)
        {
            if (_pendingFlushes.Count > 0)
            {
                return true;
            }
        }
        return _bitmaps.Any(bitmap => bitmap.FindNext(0, bitmap.PageCount) >= 0);
    }

    /// <summary>Waits (bounded) for posted writes, then deregisters and unpins everything.</summary>
    private void ReleaseEverything(FabricCompletion[] buffer)
    {
        long deadline = Stopwatch.GetTimestamp() + (long)(_options.DrainTimeout.TotalSeconds * Stopwatch.Frequency);
        while (WritesInFlight > 0 && Stopwatch.GetTimestamp() < deadline && !_abandoned)
        {
            try
            {
                if (ReapCompletions(buffer) == 0)
                {
                    Thread.Sleep(1);
                }
            }
            catch (FabricException e)
            {
                _log(EngineLogLevel.Warning, $"engine: while draining: {e.Message}");
            }
        }
        if (WritesInFlight > 0)
        {
            _log(EngineLogLevel.Warning, _abandoned
                ? $"engine: {WritesInFlight} write(s) in flight on an aborted fabric; deregistering regardless"
                : $"engine: {WritesInFlight} write(s) still in flight after {_options.DrainTimeout.TotalSeconds:0.#} s; deregistering regardless");
        }
        try
        {
            _registrar.DeregisterAll();
        }
        catch (Exception e)
        {
            _failure ??= e;
            _log(EngineLogLevel.Error, $"engine: deregistration failed: {e.Message}");
        }
    }
}
