using RdmaCs.Fabric;
using RdmaCs.Memory;
using RdmaCs.Statistics;

namespace RdmaCs.Registration;

/// <summary>
/// Registers (pins) and deregisters (unpins) runs of pages, keeps idle registrations in an LRU cache that
/// the budget bounds, and answers "which live registration covers this page". Worker thread only; with a
/// <see cref="RegistrationPool"/>, the pool's threads register ahead of the worker and deregister for it.
/// </summary>
/// <remarks>
/// Live registrations never overlap: mlock does not nest, so unlocking one of two overlapping ranges
/// would silently unpin the other. A run the pool is registering or deregistering is live too, for that
/// reason. Runs never cross a chunk (max-block-aligned) boundary, which keeps the per-chunk lists short.
/// </remarks>
internal sealed class Registrar
{
    private readonly IFabric _fabric;
    private readonly PinnedMemoryBudget _budget;
    private readonly RamBlock[] _ramBlocks;
    private readonly int _pageSize;
    private readonly int _pagesPerChunk;
    private readonly bool _lockMemory;
    private readonly bool _cacheIdle;
    private readonly EngineCounters _counters;
    private readonly List<RegisteredRun>?[][] _byChunk;       // [RAM block][chunk] → live registrations, by first page
    private readonly LinkedList<RegisteredRun> _idle = new(); // idle cached registrations, least recently used first
    private readonly RegistrationPool? _pool;
    private readonly Func<RegisteredRun, bool>? _stillNeeded;
    private long _leavingBytes; // given to the pool to deregister, not yet collected: budget on its way back

    public Registrar(IFabric fabric, PinnedMemoryBudget budget, RamBlock[] ramBlocks, int pageSize, int pagesPerChunk,
        bool lockMemory, bool cacheIdle, EngineCounters counters, RegistrationPool? pool = null, Func<RegisteredRun, bool>? stillNeeded = null)
    {
        _pool = pool;
        _stillNeeded = stillNeeded;
        _fabric = fabric;
        _budget = budget;
        _ramBlocks = ramBlocks;
        _pageSize = pageSize;
        _pagesPerChunk = pagesPerChunk;
        _lockMemory = lockMemory;
        _cacheIdle = cacheIdle;
        _counters = counters;
        _byChunk = new List<RegisteredRun>?[ramBlocks.Length][];
        for (int i = 0; i < ramBlocks.Length; i++)
        {
            long pages = ramBlocks[i].Length / pageSize;
            _byChunk[i] = new List<RegisteredRun>?[(pages + pagesPerChunk - 1) / pagesPerChunk];
        }
    }

    /// <summary>Idle cached registrations, least recently used first.</summary>
    public LinkedList<RegisteredRun> Idle => _idle;

    /// <summary>The live registration that contains <paramref name="page"/>, if any.</summary>
    public RegisteredRun? FindCovering(int ramBlock, long page)
    {
        List<RegisteredRun>? list = _byChunk[ramBlock][page / _pagesPerChunk];
        if (list is null)
        {
            return null;
        }
        foreach (RegisteredRun registration in list)
        {
            if (registration.Contains(page))
            {
                return registration;
            }
        }
        return null;
    }

    /// <summary>The first page after <paramref name="page"/> where a live registration of the same chunk starts, or <paramref name="limit"/>.</summary>
    public long NextRegisteredPage(int ramBlock, long page, long limit)
    {
        List<RegisteredRun>? list = _byChunk[ramBlock][page / _pagesPerChunk];
        if (list is not null)
        {
            foreach (RegisteredRun registration in list)
            {
                if (registration.FirstPage > page)
                {
                    return Math.Min(registration.FirstPage, limit);
                }
            }
        }
        return limit;
    }

    /// <summary>
    /// Registers a run of <paramref name="pages"/> pages from <paramref name="firstPage"/>, or more around it (see
    /// below): evicts idle registrations (LRU first) when the budget is short, and shrinks the run to what fits,
    /// but not below <paramref name="minimumPages"/>. Returns null when that does not fit: the caller must wait
    /// for completions. The registration returned always contains <paramref name="firstPage"/>.
    /// </summary>
    public RegisteredRun? TryRegister(int ramBlock, long firstPage, int pages, int minimumPages = 1)
    {
        // Register the whole unregistered stretch of the run's chunk when the budget allows: pages dirtied
        // near it later are written from the cache, and locking whole chunks (huge pages) does not split them.
        (long spanStart, long spanEnd) = FreeSpan(ramBlock, firstPage, firstPage + pages);
        if (spanEnd - spanStart > pages && MakeRoom((spanEnd - spanStart) * _pageSize))
        {
            return Register(ramBlock, spanStart, (int)(spanEnd - spanStart));
        }

        int requested = pages;
        long bytes = (long)pages * _pageSize;
        MakeRoom(bytes);
        // Read once: registering threads give budget back at any moment, and a second read could let the run grow past
        // its chunk (it must only shrink to what fits).
        long available = _budget.Available;
        if (available < bytes)
        {
            pages = (int)(available / _pageSize);
        }
        if (pages < Math.Clamp(minimumPages, 1, requested))
        {
            return null;
        }
        return Register(ramBlock, firstPage, pages);
    }

    /// <summary>
    /// Evicts idle registrations, least recently used first, until <paramref name="bytes"/> fit; false if they do not fit
    /// now (with a pool, evicted bytes come back once the pool has unpinned them: counted as coming, not evicted twice).
    /// </summary>
    private bool MakeRoom(long bytes)
    {
        while (_budget.Available + _leavingBytes < bytes && _idle.First is not null)
        {
            Evict(Victim());
        }
        return _budget.Available >= bytes;
    }

    /// <summary>How many of the least recently used idle registrations are looked at for one nothing waits to be written from.</summary>
    private const int VictimsSearched = 16;

    /// <summary>
    /// The idle registration to give up: the least recently used one that no designated page waits in (one registered
    /// ahead and not written from yet, or one whose pages were dirtied again, is about to be used), else the least
    /// recently used one.
    /// </summary>
    private RegisteredRun Victim()
    {
        int searched = 0;
        for (LinkedListNode<RegisteredRun>? node = _idle.First; node is not null && searched < VictimsSearched; node = node.Next, searched++)
        {
            if (_stillNeeded?.Invoke(node.Value) != true)
            {
                return node.Value;
            }
        }
        return _idle.First!.Value;
    }

    /// <summary>
    /// With a pool: has it register [<paramref name="firstPage"/>, + <paramref name="pages"/>) (which no live registration
    /// may overlap) ahead of the worker, when the budget has room for it now or once idle registrations are evicted;
    /// false when it has not. The run becomes an idle cached registration when it is done (see <see cref="CollectDone"/>).
    /// </summary>
    public bool TryRegisterAhead(int ramBlock, long firstPage, int pages)
    {
        long bytes = (long)pages * _pageSize;
        if (_pool is null || !MakeRoom(bytes) || !_budget.TryReserve(bytes))
        {
            return false;
        }
        var run = new RegisteredRun(ramBlock, firstPage, pages, bytes, _ramBlocks[ramBlock].Address + (nint)(firstPage * _pageSize), _lockMemory)
        {
            State = RunState.Registering,
        };
        Insert(run);
        _pool.Register(run);
        return true;
    }

    /// <summary>Registrations the pool has under way or done and not collected (0 without a pool).</summary>
    public int Outstanding => _pool?.Outstanding ?? 0;

    /// <summary>
    /// Takes in what the pool has done: registered runs become idle cached registrations (most recently used), deregistered
    /// ones leave. Throws the first failure, after taking in everything.
    /// </summary>
    public void CollectDone()
    {
        Exception? first = null;
        while (_pool is not null && _pool.TryTakeDone(out RegistrationPool.Done done))
        {
            RegisteredRun run = done.Run;
            if (done.Deregistered)
            {
                Remove(run);
                _leavingBytes -= run.Bytes;
                _counters.Deregistered();
            }
            else if (done.Handle is { } handle)
            {
                run.Handle = handle;
                run.State = RunState.Ready;
                run.IdleNode = _idle.AddLast(run);
                _counters.Registered(run.Bytes);
            }
            else
            {
                Remove(run); // the pool gave its budget back
            }
            first ??= done.Error;
        }
        if (first is not null)
        {
            throw first;
        }
    }

    /// <summary>The largest stretch of the chunk around [<paramref name="start"/>, <paramref name="end"/>) that no live registration covers.</summary>
    public (long Start, long End) FreeSpan(int ramBlock, long start, long end)
    {
        long chunkStart = start / _pagesPerChunk * _pagesPerChunk;
        long chunkEnd = Math.Min(chunkStart + _pagesPerChunk, _ramBlocks[ramBlock].Length / _pageSize);
        long spanStart = chunkStart;
        long spanEnd = chunkEnd;
        foreach (RegisteredRun registration in _byChunk[ramBlock][start / _pagesPerChunk] ?? [])
        {
            if (registration.EndPage <= start)
            {
                spanStart = Math.Max(spanStart, registration.EndPage);
            }
            else if (registration.FirstPage >= end)
            {
                spanEnd = Math.Min(spanEnd, registration.FirstPage);
            }
        }
        return (spanStart, spanEnd);
    }

    /// <summary>Reserves, pins (when the engine locks memory) and registers; undoes what was done if a step fails.</summary>
    private RegisteredRun? Register(int ramBlock, long firstPage, int pages)
    {
        long bytes = (long)pages * _pageSize;
        if (!_budget.TryReserve(bytes))
        {
            return null;
        }
        nint address = _ramBlocks[ramBlock].Address + (nint)(firstPage * _pageSize);
        FabricRegistration handle;
        try
        {
            handle = Pin(_fabric, address, bytes, _lockMemory);
        }
        catch
        {
            _budget.Release(bytes);
            throw;
        }
        var registration = new RegisteredRun(ramBlock, firstPage, pages, bytes, address, _lockMemory) { Handle = handle };
        Insert(registration);
        _counters.Registered(bytes);
        return registration;
    }

    /// <summary>Locks (when <paramref name="lockMemory"/>) and registers [address, + bytes); undoes the lock if registration fails. Any thread.</summary>
    internal static FabricRegistration Pin(IFabric fabric, nint address, long bytes, bool lockMemory)
    {
        if (lockMemory)
        {
            MemoryLock.Lock(address, bytes);
        }
        try
        {
            return fabric.Register(address, bytes);
        }
        catch
        {
            if (lockMemory)
            {
                MemoryLock.Unlock(address, bytes);
            }
            throw;
        }
    }

    /// <summary>Deregisters <paramref name="run"/> and unlocks it when it was locked. Any thread.</summary>
    internal static void Unpin(IFabric fabric, RegisteredRun run)
    {
        fabric.Deregister(run.Handle);
        if (run.Locked)
        {
            MemoryLock.Unlock(run.Address, run.Bytes);
        }
    }

    /// <summary>A write from <paramref name="registration"/> is about to be posted.</summary>
    public void BeginWrite(RegisteredRun registration)
    {
        if (registration.IdleNode is not null)
        {
            _idle.Remove(registration.IdleNode);
            registration.IdleNode = null;
        }
        registration.WritesInFlight++;
    }

    /// <summary>A write from <paramref name="registration"/> completed: cache it when idle, or give it up.</summary>
    public void EndWrite(RegisteredRun registration)
    {
        if (--registration.WritesInFlight > 0)
        {
            return;
        }
        if (_cacheIdle)
        {
            registration.IdleNode = _idle.AddLast(registration);
        }
        else
        {
            Deregister(registration);
        }
    }

    /// <summary>
    /// Deregisters everything, idle or not: only once no write is in flight any more (or the fabric that
    /// could still read them is gone). Keeps going past failures and reports the first.
    /// </summary>
    public void DeregisterAll()
    {
        Exception? first = null;
        if (_pool is not null)
        {
            _pool.WaitUntilIdle();
            try
            {
                CollectDone();
            }
            catch (Exception e)
            {
                first = e;
            }
        }
        foreach (List<RegisteredRun>?[] chunks in _byChunk)
        {
            foreach (List<RegisteredRun>? list in chunks)
            {
                while (list is { Count: > 0 })
                {
                    RegisteredRun registration = list[^1];
                    if (registration.IdleNode is not null)
                    {
                        _idle.Remove(registration.IdleNode);
                        registration.IdleNode = null;
                    }
                    try
                    {
                        Deregister(registration, here: true);
                    }
                    catch (Exception e)
                    {
                        // Deregister took it off the list first: it is not retried, the fabric or kernel refused it once.
                        first ??= e;
                    }
                }
            }
        }
        if (first is not null)
        {
            throw first;
        }
    }

    private void Evict(RegisteredRun registration)
    {
        _idle.Remove(registration.IdleNode!);
        registration.IdleNode = null;
        Deregister(registration);
        _counters.Evicted();
    }

    /// <summary>Gives a registration up: on the pool when there is one (it stays live, leaving, until done), else <paramref name="here"/>.</summary>
    private void Deregister(RegisteredRun registration, bool here = false)
    {
        if (_pool is not null && !here)
        {
            registration.State = RunState.Leaving;
            _leavingBytes += registration.Bytes;
            _pool.Deregister(registration);
            return;
        }
        Remove(registration);
        Unpin(_fabric, registration);
        _budget.Release(registration.Bytes);
        _counters.Deregistered();
    }

    private void Insert(RegisteredRun registration)
    {
        ref List<RegisteredRun>? list = ref _byChunk[registration.RamBlock][registration.FirstPage / _pagesPerChunk];
        list ??= new List<RegisteredRun>(4);
        int index = 0;
        while (index < list.Count && list[index].FirstPage < registration.FirstPage)
        {
            index++;
        }
        list.Insert(index, registration);
    }

    private void Remove(RegisteredRun registration)
    {
        _byChunk[registration.RamBlock][registration.FirstPage / _pagesPerChunk]!.Remove(registration);
    }
}
