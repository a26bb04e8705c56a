using System.Collections.Concurrent;
using System.Diagnostics;
using RdmaCs.Bindings.LibFabric;
using RdmaCs.Protocol;
using RdmaCs.Remote;
using RdmaCs.Transfer;

namespace RdmaCs.Fabric.LibFabric;

/// <summary>
/// The engine's fabric over libfabric: registrations are libfabric memory regions, writes are <c>fi_writemsg</c> into
/// the destination's registered RAM (whole blocks, or the windows <see cref="RemoteWindows"/> keeps within the
/// destination's budget), completions come from the endpoint's completion queue. A progress
/// thread reads that queue: the tcp provider moves data only while someone does, and the engine's worker may be
/// asleep. The caller owns the domain and endpoint and closes them after this.
/// </summary>
public sealed unsafe class LibFabricFabric : IFabric, IDisposable
{
    private static readonly TimeSpan SendQueueTimeout = TimeSpan.FromSeconds(30);

    /// <summary>-ECANCELED: the transfer was aborted.</summary>
    private const int Cancelled = -125;

    /// <summary>-ECONNRESET: the control connection that carries zero ranges is gone.</summary>
    private const int ConnectionReset = -104;

    /// <summary>The completion context of a fence read; engine contexts are small slot numbers.</summary>
    private const ulong FenceContext = ulong.MaxValue;

    /// <summary>
    /// The completion context of the fence read before a batch of messages that must follow delivery (zero ranges, window
    /// swaps).
    /// </summary>
    private const ulong DeliveryFenceContext = ulong.MaxValue - 1;

    private readonly FabricDomain _domain;
    private readonly FabricEndpoint _endpoint;
    private readonly RemoteBlock[] _remote;
    private readonly ConcurrentQueue<FabricCompletion> _completed = new();
    private readonly ManualResetEventSlim _writesPosted = new(false);
    private readonly ManualResetEventSlim _progressMade = new(false);
    private readonly Thread _progress;
    private readonly ulong _writeFlags;
    private Action? _completionCallback;
    private long _writesInFlight;
    private ulong _nextKey = 1;
    private volatile bool _stopping;
    private readonly CancellationTokenSource _aborted = new();
    private volatile Exception? _progressFailure;
    private readonly SemaphoreSlim _fenceDone = new(0);
    private FabricCompletion _fenceCompletion;
    private RdmaCs.Memory.AlignedBuffer? _fenceBuffer;
    private FabricMemoryRegion? _fenceRegion;
    private readonly object _fenceLock = new();

    private readonly ControlSender? _sendControl;
    private readonly RemoteWindows? _windows;
    private readonly RemoteBlock? _fenceTarget;
    private readonly ConcurrentDictionary<long, ulong> _zeroRanges = new(); // zero ranges waiting for their acknowledgement: id → the engine's context
    private long _nextZeroId;
    private long _lastZeroIdSent;             // ids are sent in ascending order: none above this was
    private readonly object _deliveryLock = new();
    private List<ControlMessage> _unfenced = [];   // posted since the delivery fence in flight was posted (guarded by _deliveryLock)
    private List<ControlMessage>? _fenced;         // behind the delivery fence in flight; null when none is (guarded by _deliveryLock)
    private bool _deliveryFenceDue;                    // progress thread: _fenced waits for its fence to be posted (the queue was full)


    /// <summary>
    /// Sends messages to the destination over the control connection, in one go and in order: zero ranges (acknowledged
    /// by id, an acknowledgement covering every range up to its id) and window requests and releases.
    /// </summary>
    public delegate void ControlSender(IReadOnlyList<ControlMessage> messages);

    /// <param name="remote">The destination's RAM blocks: their lengths, and their keys when they are registered whole.</param>
    /// <param name="fenceTarget">What the fence reads from: a buffer the destination exposes for remote reads (its RAM
    /// blocks it exposes for writes only); null: no fences, and so no zero ranges or windows either.</param>
    /// <param name="sendControl">How zero ranges and window requests reach the destination; null: zero ranges are refused.</param>
    /// <param name="windows">How the destination exposes its RAM on demand; null: <paramref name="remote"/>'s keys cover whole blocks.</param>
    public LibFabricFabric(FabricDomain domain, FabricEndpoint endpoint, IReadOnlyList<RemoteBlock> remote, RemoteBlock? fenceTarget = null,
        ControlSender? sendControl = null, WindowLayout? windows = null)
    {
        _domain = domain;
        _endpoint = endpoint;
        _remote = [.. remote];
        _fenceTarget = fenceTarget;
        _sendControl = sendControl;
        if (windows is { } layout)
        {
            ControlSender send = sendControl ?? throw new ArgumentException("windows need a control connection to be asked for", nameof(sendControl));
            _windows = new RemoteWindows(layout, _remote, request => send([request]), (release, request) => SendAfterDelivery([release, request]));
        }
        RegistrationPins = domain.Info.RegistrationPins;
        Name = domain.Info.Provider;
        OrdersWrites = domain.Info.OrdersWrites;
        MaxWriteSegments = domain.Info.MaxWriteSegments;
        // Every write names its flags (fi_writemsg), so that it means the same under every libfabric: 1.17's tcp fi_write
        // passes none, later ones the endpoint's defaults. On a software provider, delivery-complete makes the target
        // acknowledge every write with a message of its own (tcpx_set_ack_flags in 1.17): there the fence read that goes
        // before every batch of zero ranges and ends the migration proves delivery, and a write's completion means its
        // bytes are on their way, out of the registration (which can go).
        _writeFlags = Fi.FI_COMPLETION | (RegistrationPins ? domain.Info.Info->tx_attr->op_flags & Fi.FI_DELIVERY_COMPLETE : 0);
        // RunProgress records its own failures for the engine; only a bug could reach the guard's log (stderr: the host's log).
        _progress = BackgroundThread.Start("rdmacs-fabric-progress", RunProgress, static (_, message) => Console.Error.WriteLine($"rdma-cs: {message}"));
    }

    public string Name { get; }

    public bool RegistrationPins { get; }

    public bool OrdersWrites { get; }

    public int MaxWriteSegments { get; }

    public double LinkBitsPerSecond => _domain.Info.LinkBitsPerSecond;

    public long RemoteWindowBytes => _windows?.Layout.WindowBytes ?? 0;

    /// <summary>Half the windows the destination allows, at most 8: the rest hold what is being written now.</summary>
    public int PrefetchWindows => _windows is null ? 0 : Math.Clamp(_windows.Layout.Windows / 2, 0, 8);

    public void Prefetch(int ramBlock, long remoteOffset) => _windows?.Prefetch(ramBlock, remoteOffset);

    /// <summary>Control pump: the destination granted a window.</summary>
    public void WindowGranted(WindowGrant grant) =>
        (_windows ?? throw new ProtocolException("the destination granted a window, but exposes whole RAM blocks")).Granted(grant);

    /// <summary>
    /// Where registration pins: the fence buffer's page, registered for the fence reads, and the endpoint's queues (an
    /// estimate: <see cref="FabricInfo.PinnedQueueBytes"/>).
    /// </summary>
    public long PinnedForItselfBytes => RegistrationPins ? FenceBufferBytes + _domain.Info.PinnedQueueBytes : 0;

    private const int FenceBufferBytes = 4096;

    /// <summary>True when a write's completion means its bytes are in the destination's memory (hardware providers).</summary>
    public bool WritesDeliveryComplete => (_writeFlags & Fi.FI_DELIVERY_COMPLETE) != 0;

    public bool HasCompletions => !_completed.IsEmpty;

    public FabricRegistration Register(nint address, long length)
    {
        // With FI_MR_PROV_KEY the provider ignores the requested key; without it, keys must be unique per domain.
        FabricMemoryRegion region = _domain.Register(address, length, Fi.FI_WRITE, Interlocked.Increment(ref _nextKey));
        return new FabricRegistration(address, length, region.Key, region);
    }

    public void Deregister(FabricRegistration registration) => ((FabricMemoryRegion)registration.ProviderState!).Dispose();

    public void PostWrite(FabricRegistration source, ReadOnlySpan<WriteSegment> segments, int ramBlock, ulong context)
    {
        if (segments.Length == 0 || segments.Length > MaxWriteSegments)
        {
            throw new FabricException($"a write of {segments.Length} segments: this fabric takes 1 to {MaxWriteSegments}");
        }
        RemoteBlock target = default;
        foreach (WriteSegment segment in segments)
        {
            target = Target("write", ramBlock, segment.RemoteOffset, segment.Length);
        }
        // Always the descriptor: FI_MR_LOCAL providers (verbs) need it, the others ignore it.
        var region = (FabricMemoryRegion)source.ProviderState!;
        WriteSegment[] pieces = segments.ToArray();
        if (_windows is null)
        {
            Post(() => _endpoint.TryWrite(pieces, region.Descriptor, target.BaseAddress, target.Key, context, _writeFlags), SendQueueTimeout);
            return;
        }
        // Every segment lies in the window of the first (the engine's blocks tile the windows); remote offsets are the
        // window's own.
        long first = pieces[0].RemoteOffset;
        (RemoteKey key, long windowStart) = AcquireWindow(ramBlock, first, pieces[^1].RemoteOffset + pieces[^1].Length - first, context);
        for (int i = 0; i < pieces.Length; i++)
        {
            pieces[i] = pieces[i] with { RemoteOffset = pieces[i].RemoteOffset - windowStart };
        }
        try
        {
            Post(() => _endpoint.TryWrite(pieces, region.Descriptor, key.BaseAddress, key.Key, context, _writeFlags), SendQueueTimeout);
        }
        catch
        {
            _windows.Completed(context); // nothing was posted
            throw;
        }
    }

    private (RemoteKey Key, long WindowStart) AcquireWindow(int ramBlock, long offset, long length, ulong context)
    {
        try
        {
            return _windows!.Acquire(ramBlock, offset, length, context, SendQueueTimeout, _aborted.Token);
        }
        catch (OperationCanceledException)
        {
            throw new FabricException("write: the transfer was aborted while waiting for a destination window", Cancelled);
        }
    }

    /// <summary>
    /// A zero range travels on the control connection, so it must not overtake the writes before it: it goes out once a
    /// fence read posted after them has completed (see <see cref="Fence"/>). Ranges posted while such a fence is in flight
    /// wait for the next one together, so that a guest with many small zero runs pays one fence and one message per
    /// batch, not per range. The destination's acknowledgement, through <see cref="CompleteZeroRanges"/>, completes them.
    /// </summary>
    public void PostZero(int ramBlock, long remoteOffset, long length, ulong context)
    {
        if (_sendControl is null)
        {
            throw new FabricException("this fabric has no control connection to send zero ranges over");
        }
        Target("zero range", ramBlock, remoteOffset, length);
        long id = Interlocked.Increment(ref _nextZeroId);
        _zeroRanges[id] = context;
        try
        {
            SendAfterDelivery([new ZeroPages(id, ramBlock, remoteOffset, length)]);
        }
        catch
        {
            _zeroRanges.TryRemove(id, out _);
            throw; // the engine undoes this range; the batch held only it
        }
    }

    /// <summary>
    /// Sends <paramref name="messages"/> on the control connection once every write posted before now has landed: behind
    /// the fence read posted now, or, when one is in flight, behind the next, with whatever else comes meanwhile. Throws
    /// when the fence read cannot be posted (the batch then held only these messages).
    /// </summary>
    private void SendAfterDelivery(IReadOnlyList<ControlMessage> messages)
    {
        lock (_deliveryLock)
        {
            _unfenced.AddRange(messages);
            if (_fenced is not null)
            {
                return; // the fence in flight's completion posts the next one, after these
            }
            TakeUnfenced();
        }
        try
        {
            PostFenceRead(DeliveryFenceContext, SendQueueTimeout);
        }
        catch
        {
            lock (_deliveryLock)
            {
                _fenced = null;
            }
            throw;
        }
    }

    /// <summary>Moves the unfenced messages behind a fence about to be posted. Under <see cref="_deliveryLock"/>.</summary>
    private List<ControlMessage> TakeUnfenced()
    {
        List<ControlMessage> batch = _unfenced;
        _unfenced = [];
        _fenced = batch;
        return batch;
    }

    /// <summary>The destination block [remoteOffset, + length) lies in, checked; and whether the fabric can still post.</summary>
    private RemoteBlock Target(string operation, int ramBlock, long remoteOffset, long length)
    {
        if (_progressFailure is { } failure)
        {
            throw new FabricException($"the fabric's progress thread failed: {failure.Message}", inner: failure);
        }
        if (_aborted.IsCancellationRequested)
        {
            throw new FabricException($"{operation}: the transfer was aborted", Cancelled);
        }
        if ((uint)ramBlock >= (uint)_remote.Length || remoteOffset < 0 || length <= 0 || remoteOffset > _remote[ramBlock].Length - length)
        {
            throw new FabricException($"{operation} of {length} bytes at offset {remoteOffset} does not fit destination RAM block #{ramBlock}");
        }
        return _remote[ramBlock];
    }

    /// <summary>
    /// The destination has cleared every zero range up to <paramref name="id"/> (it acknowledges them in order, several
    /// at once); an acknowledgement that covers no pending range is the peer's error.
    /// </summary>
    public void CompleteZeroRanges(long id)
    {
        if (id > Volatile.Read(ref _lastZeroIdSent))
        {
            throw new FabricException($"the destination acknowledged zero ranges up to {id}, but only {Volatile.Read(ref _lastZeroIdSent)} were sent");
        }
        int completed = 0;
        foreach (long pending in _zeroRanges.Keys)
        {
            if (pending <= id && _zeroRanges.TryRemove(pending, out ulong context))
            {
                Complete(new FabricCompletion(context));
                completed++;
            }
        }
        if (completed == 0)
        {
            throw new FabricException($"the destination acknowledged zero ranges up to {id}, none of which is pending");
        }
    }

    /// <summary>Fails every zero range still waiting (the control connection is gone): their completions say why.</summary>
    public void FailZeroRanges(string reason)
    {
        foreach (long id in _zeroRanges.Keys)
        {
            if (_zeroRanges.TryRemove(id, out ulong context))
            {
                Complete(new FabricCompletion(context, ConnectionReset, reason));
            }
        }
    }

    private void Complete(FabricCompletion completion)
    {
        _completed.Enqueue(completion);
        Volatile.Read(ref _completionCallback)?.Invoke();
    }

    /// <summary>
    /// The fence read behind a batch of messages completed (progress thread): send the batch, or fail it; then post the
    /// fence for the messages that came meanwhile.
    /// </summary>
    private void DeliveryFenceCompleted(FabricCompletion fence)
    {
        List<ControlMessage> batch;
        lock (_deliveryLock)
        {
            batch = _fenced!;
            _fenced = null;
        }
        SendOrFail(batch, fence.Succeeded ? null : new FabricException($"the fence read before zero ranges or window releases failed: {fence.Message}", fence.Error));

        lock (_deliveryLock)
        {
            // The worker may have posted a fence for them meanwhile (it found none in flight): that one's completion
            // sends them, and any that come after.
            if (_unfenced.Count == 0 || _fenced is not null)
            {
                return;
            }
            TakeUnfenced();
        }
        _deliveryFenceDue = true;
        PostDueDeliveryFence();
    }

    /// <summary>Progress thread: posts the fence a batch of messages waits for, once the send queue has room.</summary>
    private void PostDueDeliveryFence()
    {
        try
        {
            if (TryPostDeliveryFence())
            {
                _deliveryFenceDue = false;
            }
        }
        catch (Exception e)
        {
            _deliveryFenceDue = false;
            List<ControlMessage> stranded;
            lock (_deliveryLock)
            {
                stranded = [.. _fenced ?? [], .. _unfenced]; // nothing will fence these
                _fenced = null;
                _unfenced = [];
            }
            SendOrFail(stranded, e);
        }
    }

    /// <summary>
    /// Sends what is still pending of <paramref name="batch"/> (zero ranges not failed already, window swaps), or, with
    /// <paramref name="failure"/>, fails it: the zero ranges' completions and every wait for a window say why.
    /// </summary>
    private void SendOrFail(List<ControlMessage> batch, Exception? failure)
    {
        batch.RemoveAll(message => message is ZeroPages zero && !_zeroRanges.ContainsKey(zero.Id)); // failed already
        if (batch.Count == 0)
        {
            return;
        }
        try
        {
            if (failure is not null)
            {
                throw failure;
            }
            if (batch.OfType<ZeroPages>().LastOrDefault() is { } last)
            {
                Volatile.Write(ref _lastZeroIdSent, last.Id); // before: the acknowledgement may come before Send returns
            }
            _sendControl!(batch);
            foreach (WindowRelease release in batch.OfType<WindowRelease>())
            {
                _windows!.Left(release.Window);
            }
        }
        catch (Exception e)
        {
            foreach (ZeroPages zero in batch.OfType<ZeroPages>())
            {
                if (_zeroRanges.TryRemove(zero.Id, out ulong context))
                {
                    Complete(new FabricCompletion(context, e is FabricException f && f.Error != 0 ? f.Error : ConnectionReset, e.Message));
                }
            }
            _windows?.Fail(e);
        }
    }

    /// <summary>
    /// Posts one operation, retrying while the send queue is full (the progress thread frees it as completions
    /// arrive), and counts it in flight so the progress thread keeps reading the completion queue.
    /// </summary>
    private void Post(Func<bool> tryPost, TimeSpan timeout)
    {
        Interlocked.Increment(ref _writesInFlight);
        long deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        try
        {
            while (!tryPost())
            {
                // The queue is full: sleep until the progress thread reaps completions, rather than spin against it
                // (on a busy host, a spinning poster takes the CPU the provider needs to move data).
                _progressMade.Reset();
                _writesPosted.Set();
                if (_aborted.IsCancellationRequested)
                {
                    throw new FabricException("the transfer was aborted while the send queue was full", Cancelled);
                }
                if (Stopwatch.GetTimestamp() > deadline)
                {
                    throw new FabricException($"the send queue stayed full for {timeout.TotalSeconds:0} s: is the destination still there?");
                }
                _progressMade.Wait(1);
            }
        }
        catch
        {
            Interlocked.Decrement(ref _writesInFlight);
            throw;
        }
        _writesPosted.Set();
    }

    /// <summary>
    /// Returns once every write posted before it has landed in the destination's memory: it reads 8 bytes back
    /// from the destination, and the endpoint orders reads behind earlier writes (FI_ORDER_RAW). A write's own
    /// completion does not promise as much on every provider. The fence does not go through the engine's queue.
    /// </summary>
    public void Fence(TimeSpan timeout)
    {
        PostFenceRead(FenceContext, timeout);
        try
        {
            if (!_fenceDone.Wait(timeout, _aborted.Token))
            {
                throw new TimeoutException($"the fence read did not complete within {timeout.TotalSeconds:0} s");
            }
        }
        catch (OperationCanceledException)
        {
            throw new FabricException("the transfer was aborted while the fence read was outstanding", Cancelled);
        }
        if (!_fenceCompletion.Succeeded)
        {
            throw new FabricException($"the fence read failed: {_fenceCompletion.Message}", _fenceCompletion.Error);
        }
    }

    /// <summary>Reads 8 bytes of the destination's fence target back; ordered behind every write posted before it.</summary>
    private void PostFenceRead(ulong context, TimeSpan timeout) => Post(FenceRead(context), timeout);

    /// <summary>
    /// Progress thread: posts the delivery fence a batch waits for if the send queue has room now. It must not wait for room as
    /// <see cref="Post"/> does: only this thread makes room. False: the queue is full; try again after reaping.
    /// </summary>
    private bool TryPostDeliveryFence()
    {
        Func<bool> tryRead = FenceRead(DeliveryFenceContext);
        Interlocked.Increment(ref _writesInFlight);
        bool posted = false;
        try
        {
            posted = tryRead();
            return posted;
        }
        finally
        {
            if (!posted)
            {
                Interlocked.Decrement(ref _writesInFlight);
            }
        }
    }

    /// <summary>What posts one fence read: 8 bytes of the destination's fence target, into a buffer of this side's.</summary>
    private Func<bool> FenceRead(ulong context)
    {
        RemoteBlock target = _fenceTarget ?? throw new FabricException("this fabric was given no fence target: it cannot fence");
        lock (_fenceLock)
        {
            if (_fenceRegion is null)
            {
                _fenceBuffer = new RdmaCs.Memory.AlignedBuffer(FenceBufferBytes);
                _fenceRegion = _domain.Register(_fenceBuffer.Address, FenceBufferBytes, Fi.FI_READ, Interlocked.Increment(ref _nextKey));
            }
        }
        FabricMemoryRegion region = _fenceRegion!;
        nint buffer = _fenceBuffer!.Address;
        return () => _endpoint.TryRead(buffer, 8, region.Descriptor, target.BaseAddress, target.Key, context);
    }

    public int PollCompletions(Span<FabricCompletion> completions)
    {
        int count = 0;
        while (count < completions.Length && _completed.TryDequeue(out FabricCompletion completion))
        {
            completions[count++] = completion;
        }
        return count;
    }

    public void SetCompletionCallback(Action? callback) => Volatile.Write(ref _completionCallback, callback);

    /// <summary>
    /// Any thread: a fence or a post waiting for room gives up at once, and every later one fails. The way out of a
    /// transfer whose peer stopped answering without closing anything (a frozen host), well before the waits' deadlines.
    /// </summary>
    public void Abort()
    {
        try
        {
            _aborted.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Stops the progress thread. Writes still in flight never complete after this: close the endpoint next.</summary>
    public void Dispose()
    {
        _stopping = true;
        _writesPosted.Set();
        _progress.Join();
        _writesPosted.Dispose();
        _progressMade.Dispose();
        _aborted.Dispose();
        _fenceRegion?.Dispose();
        _fenceBuffer?.Dispose();
    }

    private void RunProgress()
    {
        var completions = new FabricCompletion[64];
        try
        {
            while (!_stopping)
            {
                if (_deliveryFenceDue)
                {
                    // Before the idle check: the queue that was full may have emptied in one go, and nothing else
                    // would post the fence the batch waits for.
                    PostDueDeliveryFence();
                }
                if (Interlocked.Read(ref _writesInFlight) == 0)
                {
                    _writesPosted.Wait(TimeSpan.FromMilliseconds(50));
                    _writesPosted.Reset();
                    continue;
                }
                int count = _endpoint.ReadCompletions(completions);
                if (count == 0)
                {
                    ProgressPause.Idle(_endpoint);
                    continue;
                }
                _progressMade.Set();
                for (int i = 0; i < count; i++)
                {
                    if (completions[i].Context == FenceContext)
                    {
                        _fenceCompletion = completions[i];
                        _fenceDone.Release();
                        continue;
                    }
                    if (completions[i].Context == DeliveryFenceContext)
                    {
                        DeliveryFenceCompleted(completions[i]);
                        continue;
                    }
                    _windows?.Completed(completions[i].Context);
                    _completed.Enqueue(completions[i]);
                }
                Interlocked.Add(ref _writesInFlight, -count);
                Volatile.Read(ref _completionCallback)?.Invoke();
            }
        }
        catch (Exception e)
        {
            // The engine learns of it at its next write; in-flight writes will never complete.
            _progressFailure = e;
            Volatile.Read(ref _completionCallback)?.Invoke();
        }
    }
}
