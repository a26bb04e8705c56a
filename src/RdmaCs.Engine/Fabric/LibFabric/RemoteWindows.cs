using RdmaCs.Protocol;
using RdmaCs.Remote;

namespace RdmaCs.Fabric.LibFabric;

/// <summary>
/// The source's view of the destination's windows (<see cref="WindowLayout"/>): which it holds, under which keys, and how
/// many writes into each are in flight. It never holds more than the destination allows, counting windows asked for and
/// not yet granted. A window is asked for ahead of need (<see cref="Prefetch"/>) or when a write needs it
/// (<see cref="Acquire"/>); when all are held, the least recently used one with no write in flight is swapped: its
/// release and the new request go together behind a fence read, so that the release cannot overtake a write still on
/// its way, and the destination never holds more than its budget.
/// </summary>
/// <remarks>Thread-safe: the worker acquires and prefetches, the progress thread completes writes and sends swaps, the
/// control pump grants. Nothing is sent under the lock (a send may wait for the threads that take it): the worker
/// decides under the lock what to ask for, and sends it after.</remarks>
internal sealed class RemoteWindows(WindowLayout layout, IReadOnlyList<RemoteBlock> blocks, Action<WindowRequest> requestNow,
    Action<WindowRelease, WindowRequest> swapAfterDelivery)
{
    private sealed class Window(WindowId id)
    {
        public WindowId Id { get; } = id;
        public RemoteKey? Key { get; set; }     // null until granted
        public int Writes { get; set; }         // in flight
        public bool Unused { get; set; }        // asked for ahead of need, not written into since
        public LinkedListNode<Window>? Node { get; set; }
    }

    private readonly object _lock = new();
    private readonly Dictionary<WindowId, Window> _held = [];
    private readonly LinkedList<Window> _recency = new();          // first: least recently used
    private readonly HashSet<WindowId> _leaving = [];             // released on a swap not sent yet
    private readonly Dictionary<ulong, Window> _writes = [];       // by completion context
    private readonly List<(WindowRelease? Release, WindowRequest Request)> _outbox = []; // decided under the lock, sent after
    private Exception? _failure;

    public WindowLayout Layout => layout;

    /// <summary>Worker: the engine will soon write at <paramref name="offset"/>; ask for its window now if that evicts nothing it still needs.</summary>
    public void Prefetch(int block, long offset)
    {
        lock (_lock)
        {
            WindowId id = layout.WindowAt(block, offset);
            if (_held.TryGetValue(id, out Window? window))
            {
                Touch(window);
            }
            else if (_failure is null && !_leaving.Contains(id) && TryAskFor(id, evictUnused: false) is { } asked)
            {
                asked.Unused = true;
            }
        }
        SendOutbox();
    }

    /// <summary>
    /// Worker: the key and base of the window that holds [<paramref name="offset"/>, + <paramref name="length"/>) of
    /// <paramref name="block"/>, counting a write with <paramref name="context"/> in flight in it until
    /// <see cref="Completed"/>; waits for the window when it is not granted yet. The range must lie in one window.
    /// </summary>
    public (RemoteKey Key, long WindowStart) Acquire(int block, long offset, long length, ulong context, TimeSpan timeout, CancellationToken abort)
    {
        WindowId id = layout.WindowAt(block, offset);
        if (layout.WindowAt(block, offset + length - 1) != id)
        {
            throw new FabricException($"a write of {length} bytes at offset {offset} of RAM block #{block} crosses a destination window " +
                                      $"({layout.WindowBytes} bytes): the engine's blocks must tile the windows");
        }
        DateTime deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            lock (_lock)
            {
                if (_failure is { } failure)
                {
                    throw new FabricException($"the destination's windows are unusable: {failure.Message}", inner: failure);
                }
                if (_held.TryGetValue(id, out Window? window) || (!_leaving.Contains(id) && (window = TryAskFor(id, evictUnused: true)) is not null))
                {
                    Touch(window);
                    if (window.Key is { } key && _outbox.Count == 0)
                    {
                        window.Writes++;
                        window.Unused = false;
                        _writes.Add(context, window);
                        return (key, layout.Start(id));
                    }
                }
                // Not granted yet, still leaving on a swap, or every window has writes in flight: a grant, a swap sent or
                // a completion changes that.
                TimeSpan left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                {
                    throw new FabricException($"the destination did not grant window {id.Index} of RAM block #{id.Block} within " +
                                              $"{timeout.TotalSeconds:0} s ({_held.Count} of {layout.Windows} held)");
                }
                abort.ThrowIfCancellationRequested();
                if (_outbox.Count == 0)
                {
                    Monitor.Wait(_lock, left < TimeSpan.FromMilliseconds(100) ? left : TimeSpan.FromMilliseconds(100));
                }
            }
            SendOutbox();
        }
    }

    /// <summary>Worker, outside the lock: sends what was decided under it, in order.</summary>
    private void SendOutbox()
    {
        (WindowRelease? Release, WindowRequest Request)[] outgoing;
        lock (_lock)
        {
            if (_outbox.Count == 0)
            {
                return;
            }
            outgoing = [.. _outbox];
            _outbox.Clear();
        }
        try
        {
            foreach ((WindowRelease? release, WindowRequest request) in outgoing)
            {
                if (release is null)
                {
                    requestNow(request);
                }
                else
                {
                    swapAfterDelivery(release, request);
                }
            }
        }
        catch (Exception e)
        {
            // What was decided cannot be undone at the destination: these windows are out of step with it for good.
            Fail(e);
            throw e as FabricException ?? new FabricException($"cannot ask the destination for a window: {e.Message}", inner: e);
        }
    }

    /// <summary>Progress thread (or a post that failed): the write with <paramref name="context"/> is over.</summary>
    public void Completed(ulong context)
    {
        lock (_lock)
        {
            if (_writes.Remove(context, out Window? window) && --window.Writes == 0)
            {
                Monitor.PulseAll(_lock);
            }
        }
    }

    /// <summary>Control pump: the destination granted a window this side asked for.</summary>
    public void Granted(WindowGrant grant)
    {
        lock (_lock)
        {
            if (!_held.TryGetValue(grant.Window, out Window? window) || window.Key is not null)
            {
                throw new ProtocolException($"the destination granted window {grant.Window.Index} of RAM block {grant.Window.Block}, which was not asked for");
            }
            window.Key = grant.Key;
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>Progress thread: the release of <paramref name="window"/> has gone out; it may be asked for again.</summary>
    public void Left(WindowId window)
    {
        lock (_lock)
        {
            _leaving.Remove(window);
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>Any thread: a swap could not be sent (the connection is gone); every wait fails with <paramref name="failure"/>.</summary>
    public void Fail(Exception failure)
    {
        lock (_lock)
        {
            _failure ??= failure;
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>
    /// Asks for <paramref name="id"/>: at once when a window is free, else in a swap with the least recently used window
    /// that has no write in flight (and, unless <paramref name="evictUnused"/>, has been written into since it was asked
    /// for: a prefetch must not evict another's). Null when no window can go now. Under the lock.
    /// </summary>
    private Window? TryAskFor(WindowId id, bool evictUnused)
    {
        if ((uint)id.Block >= (uint)blocks.Count || layout.Start(id) >= blocks[id.Block].Length)
        {
            throw new FabricException($"window {id.Index} of RAM block #{id.Block} does not exist at the destination");
        }
        Window? victim = null;
        // A swap hands a window's place to the next: the destination holds what this side holds, give or take the swaps
        // on their way, each of which it takes as a release then a request.
        if (_held.Count >= layout.Windows)
        {
            for (LinkedListNode<Window>? node = _recency.First; node is not null && victim is null; node = node.Next)
            {
                if (node.Value.Key is not null && node.Value.Writes == 0 && (evictUnused || !node.Value.Unused))
                {
                    victim = node.Value;
                }
            }
            if (victim is null)
            {
                return null;
            }
        }
        var window = new Window(id);
        if (victim is null)
        {
            _held.Add(id, window);
            window.Node = _recency.AddLast(window);
            _outbox.Add((null, new WindowRequest(id)));
            return window;
        }
        _held.Remove(victim.Id);
        _recency.Remove(victim.Node!);
        _leaving.Add(victim.Id);
        _held.Add(id, window);
        window.Node = _recency.AddLast(window);
        _outbox.Add((new WindowRelease(victim.Id), new WindowRequest(id)));
        return window;
    }

    private void Touch(Window window)
    {
        _recency.Remove(window.Node!);
        _recency.AddLast(window.Node!);
    }
}
