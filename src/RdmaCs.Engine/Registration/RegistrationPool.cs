using System.Collections.Concurrent;
using RdmaCs.Fabric;
using RdmaCs.Memory;
using RdmaCs.Transfer;

namespace RdmaCs.Registration;

/// <summary>
/// Threads that register and deregister off the engine's worker. On a NIC, registering pins and maps every page (about
/// 0.1 ms per MiB, on the calling thread): one thread registers about 90 Gb/s' worth at best, less than a 100–400 Gb/s
/// link carries. With a pool, the worker hands runs to register (their budget reserved already) and registrations to give
/// up (their budget released here once they are unpinned), and keeps posting writes; it collects what is done with
/// <see cref="TryTakeDone"/>. See docs/hardware.md for how many threads a link needs.
/// </summary>
internal sealed class RegistrationPool : IDisposable
{
    /// <summary>What a thread did: registered <see cref="Run"/> (its handle, or the error), or deregistered it.</summary>
    public readonly record struct Done(RegisteredRun Run, FabricRegistration? Handle, Exception? Error, bool Deregistered);

    private readonly IFabric _fabric;
    private readonly PinnedMemoryBudget _budget;
    private readonly Action _wakeWorker;
    // Deregistrations first: each gives budget back, which the next registration is waiting for.
    private readonly BlockingCollection<RegisteredRun> _deregistrations = new();
    private readonly BlockingCollection<RegisteredRun> _registrations = new();
    private readonly ConcurrentQueue<Done> _done = new();
    private readonly Thread[] _threads;
    private int _outstanding; // jobs given and not yet taken back by the worker

    public RegistrationPool(int threads, IFabric fabric, PinnedMemoryBudget budget, Action wakeWorker, EngineLog log)
    {
        _fabric = fabric;
        _budget = budget;
        _wakeWorker = wakeWorker;
        _threads = [.. Enumerable.Range(0, threads).Select(i => BackgroundThread.Start($"rdmacs-register-{i}", Work, log))];
    }

    public int Threads => _threads.Length;

    /// <summary>Jobs given and not yet collected: registrations under way count against how far ahead the worker asks.</summary>
    public int Outstanding => Volatile.Read(ref _outstanding);

    /// <summary>Worker: register <paramref name="run"/> (its bytes reserved in the budget already).</summary>
    public void Register(RegisteredRun run) => Give(run, register: true);

    /// <summary>Worker: deregister <paramref name="run"/> (no write from it is in flight); the budget gets its bytes back once it is unpinned.</summary>
    public void Deregister(RegisteredRun run) => Give(run, register: false);

    /// <summary>Any thread: something is done and waits to be collected.</summary>
    public bool HasDone => !_done.IsEmpty;

    /// <summary>Worker: the next job done, if any.</summary>
    public bool TryTakeDone(out Done done)
    {
        if (!_done.TryDequeue(out done))
        {
            return false;
        }
        Interlocked.Decrement(ref _outstanding);
        return true;
    }

    /// <summary>Worker, when stopping: waits until every job given has been done (and can be collected).</summary>
    public void WaitUntilIdle()
    {
        SpinWait spin = default;
        while (Volatile.Read(ref _outstanding) > _done.Count)
        {
            spin.SpinOnce(sleep1Threshold: 10);
        }
    }

    public void Dispose()
    {
        _deregistrations.CompleteAdding();
        _registrations.CompleteAdding();
        foreach (Thread thread in _threads)
        {
            thread.Join();
        }
        _deregistrations.Dispose();
        _registrations.Dispose();
    }

    private void Give(RegisteredRun run, bool register)
    {
        Interlocked.Increment(ref _outstanding);
        (register ? _registrations : _deregistrations).Add(run);
    }

    private void Work()
    {
        BlockingCollection<RegisteredRun>[] queues = [_deregistrations, _registrations]; // TakeFromAny tries them in order
        while (true)
        {
            RegisteredRun run;
            int queue;
            try
            {
                queue = BlockingCollection<RegisteredRun>.TakeFromAny(queues, out run!);
            }
            catch (ArgumentException)
            {
                return; // both completed and empty: the pool is being disposed
            }
            _done.Enqueue(queue == 1 ? RegisterOne(run) : DeregisterOne(run));
            _wakeWorker();
        }
    }

    private Done RegisterOne(RegisteredRun run)
    {
        try
        {
            return new Done(run, Registrar.Pin(_fabric, run.Address, run.Bytes, run.Locked), null, Deregistered: false);
        }
        catch (Exception e)
        {
            _budget.Release(run.Bytes);
            return new Done(run, null, e, Deregistered: false);
        }
    }

    private Done DeregisterOne(RegisteredRun run)
    {
        try
        {
            Registrar.Unpin(_fabric, run);
            return new Done(run, null, null, Deregistered: true);
        }
        catch (Exception e)
        {
            return new Done(run, null, e, Deregistered: true);
        }
        finally
        {
            _budget.Release(run.Bytes);
        }
    }
}
