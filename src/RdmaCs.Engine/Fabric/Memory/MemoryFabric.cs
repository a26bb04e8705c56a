using System.Collections.Concurrent;
using System.Diagnostics;

namespace RdmaCs.Fabric.Memory;

/// <summary>
/// An in-process fabric: "remote" RAM blocks are buffers of this process and a write is a memcpy done by a
/// copier thread, asynchronously, after an optional random delay. For the engine's unit tests and its
/// benchmark; never the proof that a feature works over a real network.
/// </summary>
/// <remarks>
/// It checks what a NIC would fault on, and records every breach in <see cref="Violations"/> besides
/// throwing: a write from memory that is not registered or outside its registration, a write outside the
/// destination RAM block, deregistering memory that a write is still reading, registering past
/// <see cref="MemoryFabricOptions.RegistrationLimitBytes"/>.
/// </remarks>
public sealed unsafe class MemoryFabric : IFabric, IDisposable
{
    private readonly RamBlock[] _targets;
    private readonly MemoryFabricOptions _options;
    private readonly Random _random;
    private readonly object _lock = new();
    private readonly Dictionary<ulong, LiveRegistration> _registrations = new();      // guarded by _lock
    private readonly PriorityQueue<PendingWrite, (long Due, long Number)> _pending = new(); // guarded by _lock
    private readonly ConcurrentQueue<FabricCompletion> _completed = new();
    private readonly ConcurrentQueue<string> _violations = new();
    private readonly Thread _copier;
    private Action? _completionCallback;
    private ulong _nextKey = 1;
    private long _writesPosted;
    private long _registeredBytes;
    private long _peakRegisteredBytes;
    private bool _stopping;
    private bool _held;
    private long _latestDue;                                                                  // guarded by _lock
    private readonly List<PendingWrite> _zeroRanges = new();                                  // guarded by _lock
    private readonly List<PendingWrite> _writesInFlight = new();                              // guarded by _lock; checked when !OrdersWrites

    public MemoryFabric(IReadOnlyList<RamBlock> targets, MemoryFabricOptions? options = null)
    {
        _targets = [.. targets];
        _options = options ?? new MemoryFabricOptions();
        _random = new Random(_options.Seed);
        _copier = new Thread(RunCopier) { IsBackground = true, Name = "memory-fabric-copier" };
        _copier.Start();
    }

    public string Name => "memory";

    public bool RegistrationPins => false;

    public bool OrdersWrites => _options.OrdersWrites;

    public bool HasCompletions => !_completed.IsEmpty;

    /// <summary>Bytes registered now.</summary>
    public long RegisteredBytes { get { lock (_lock) { return _registeredBytes; } } }

    /// <summary>The most bytes that were ever registered at once.</summary>
    public long PeakRegisteredBytes { get { lock (_lock) { return _peakRegisteredBytes; } } }

    /// <summary>Registrations not yet deregistered.</summary>
    public int ActiveRegistrations { get { lock (_lock) { return _registrations.Count; } } }

    public long WritesPosted => Interlocked.Read(ref _writesPosted);

    /// <summary>Every misuse seen, in words; empty when the engine behaved.</summary>
    public IReadOnlyCollection<string> Violations => _violations;

    public FabricRegistration Register(nint address, long length)
    {
        if (address == 0 || length <= 0)
        {
            throw Violation($"register: invalid range 0x{address:x}+{length}");
        }
        lock (_lock)
        {
            if (_registeredBytes > _options.RegistrationLimitBytes - length)
            {
                throw Violation(
                    $"register: {length} more bytes would make {_registeredBytes + length} registered, above the limit {_options.RegistrationLimitBytes}");
            }
            foreach (LiveRegistration live in _registrations.Values)
            {
                if (address < live.Handle.Address + (nint)live.Handle.Length && live.Handle.Address < address + (nint)length)
                {
                    throw Violation($"register: 0x{address:x}+{length} overlaps the live registration 0x{live.Handle.Address:x}+{live.Handle.Length}");
                }
            }
            var handle = new FabricRegistration(address, length, _nextKey++);
            _registrations.Add(handle.Key, new LiveRegistration(handle));
            _registeredBytes += length;
            _peakRegisteredBytes = Math.Max(_peakRegisteredBytes, _registeredBytes);
            return handle;
        }
    }

    public void Deregister(FabricRegistration registration)
    {
        lock (_lock)
        {
            if (!_registrations.TryGetValue(registration.Key, out LiveRegistration? live))
            {
                throw Violation($"deregister: key {registration.Key} is not registered");
            }
            if (live.WritesInFlight > 0)
            {
                throw Violation($"deregister: {live.WritesInFlight} write(s) still read from key {registration.Key}");
            }
            _registrations.Remove(registration.Key);
            _registeredBytes -= registration.Length;
        }
    }

    public int MaxWriteSegments => _options.MaxWriteSegments;

    public double LinkBitsPerSecond => 0;

    /// <summary>The destination is in this process, exposed whole.</summary>
    public long RemoteWindowBytes => 0;

    public int PrefetchWindows => 0;

    public void Prefetch(int ramBlock, long remoteOffset)
    {
    }

    public long PinnedForItselfBytes => _options.PinnedForItselfBytes;

    public void PostWrite(FabricRegistration source, ReadOnlySpan<WriteSegment> segments, int ramBlock, ulong context)
    {
        if (segments.Length == 0 || segments.Length > MaxWriteSegments)
        {
            throw Violation($"write: {segments.Length} segments, where this fabric takes 1 to {MaxWriteSegments}");
        }
        var pieces = new Piece[segments.Length];
        for (int i = 0; i < segments.Length; i++)
        {
            WriteSegment segment = segments[i];
            pieces[i] = new Piece(segment.LocalAddress, Destination("write", ramBlock, segment.RemoteOffset, segment.Length), segment.Length);
        }
        long number = Interlocked.Increment(ref _writesPosted);
        lock (_lock)
        {
            if (!_registrations.TryGetValue(source.Key, out LiveRegistration? live))
            {
                throw Violation($"write: source key {source.Key} is not registered");
            }
            foreach (Piece piece in pieces)
            {
                if (!live.Handle.Contains(piece.Source, piece.Length))
                {
                    throw Violation($"write: 0x{piece.Source:x}+{piece.Length} is outside its registration 0x{live.Handle.Address:x}+{live.Handle.Length}");
                }
                foreach (PendingWrite zero in _zeroRanges)
                {
                    if (zero.Overlaps(piece))
                    {
                        throw Violation($"write: 0x{piece.Destination:x}+{piece.Length} overlaps a zero range the destination has not cleared yet");
                    }
                }
                if (!_options.OrdersWrites)
                {
                    foreach (PendingWrite other in _writesInFlight)
                    {
                        if (other.Overlaps(piece))
                        {
                            throw Violation($"write: 0x{piece.Destination:x}+{piece.Length} overlaps a write in flight on a fabric that does not order writes");
                        }
                    }
                }
            }
            live.WritesInFlight++;
            var write = new PendingWrite(live, pieces, context, number);
            _writesInFlight.Add(write);
            _pending.Enqueue(write, (Due(ordered: false), number));
            Monitor.Pulse(_lock);
        }
    }

    /// <summary>Clears the range once every write posted before it has been carried out (as a fence would).</summary>
    public void PostZero(int ramBlock, long remoteOffset, long length, ulong context)
    {
        nint destination = Destination("zero", ramBlock, remoteOffset, length);
        long number = Interlocked.Increment(ref _writesPosted);
        lock (_lock)
        {
            var zero = new PendingWrite(null, [new Piece(0, destination, length)], context, number);
            _zeroRanges.Add(zero);
            _pending.Enqueue(zero, (Due(ordered: true), number));
            Monitor.Pulse(_lock);
        }
    }

    /// <summary>The address in the destination RAM block that [remoteOffset, + length) starts at, checked.</summary>
    private nint Destination(string operation, int ramBlock, long remoteOffset, long length)
    {
        if ((uint)ramBlock >= (uint)_targets.Length)
        {
            throw Violation($"{operation}: RAM block {ramBlock} does not exist");
        }
        RamBlock target = _targets[ramBlock];
        if (length <= 0 || remoteOffset < 0 || remoteOffset > target.Length - length)
        {
            throw Violation($"{operation}: {length} bytes at offset {remoteOffset} leave RAM block '{target.Name}' ({target.Length} bytes)");
        }
        return target.Address + (nint)remoteOffset;
    }

    /// <summary>When a new operation is due: after its random delay, and for an ordered one after everything before it.</summary>
    private long Due(bool ordered)
    {
        double delaySeconds = _options.CompletionDelay.TotalSeconds + _random.NextDouble() * _options.CompletionJitter.TotalSeconds;
        long due = Stopwatch.GetTimestamp() + (long)(delaySeconds * Stopwatch.Frequency);
        if (ordered)
        {
            due = Math.Max(due, _latestDue);
        }
        _latestDue = Math.Max(_latestDue, due);
        return due;
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

    /// <summary>
    /// While true, posted writes are not carried out: they stay in flight. Lets a benchmark or test freeze the
    /// engine's worker in a known state (waiting for completions) without stopping it.
    /// </summary>
    public bool HoldWrites
    {
        get { lock (_lock) { return _held; } }
        set
        {
            lock (_lock)
            {
                _held = value;
                Monitor.Pulse(_lock);
            }
        }
    }

    public void SetCompletionCallback(Action? callback) => Volatile.Write(ref _completionCallback, callback);

    public void Dispose()
    {
        lock (_lock)
        {
            _stopping = true;
            Monitor.Pulse(_lock);
        }
        _copier.Join();
    }

    private void RunCopier()
    {
        while (true)
        {
            PendingWrite write;
            lock (_lock)
            {
                while (true)
                {
                    if (_stopping)
                    {
                        return;
                    }
                    if (!_held && _pending.TryPeek(out write!, out (long Due, long Number) priority))
                    {
                        long wait = priority.Due - Stopwatch.GetTimestamp();
                        if (wait <= 0)
                        {
                            _pending.Dequeue();
                            break;
                        }
                        Monitor.Wait(_lock, TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency));
                    }
                    else
                    {
                        Monitor.Wait(_lock);
                    }
                }
            }

            FabricCompletion completion;
            if (write.Number == _options.FailingWrite)
            {
                completion = new FabricCompletion(write.Context, -5, "injected write failure (memory fabric)");
            }
            else
            {
                foreach (Piece piece in write.Pieces)
                {
                    if (write.Registration is null)
                    {
                        new Span<byte>((void*)piece.Destination, (int)piece.Length).Clear();
                    }
                    else
                    {
                        Buffer.MemoryCopy((void*)piece.Source, (void*)piece.Destination, piece.Length, piece.Length);
                    }
                }
                completion = new FabricCompletion(write.Context);
            }
            lock (_lock)
            {
                if (write.Registration is null)
                {
                    _zeroRanges.Remove(write);
                }
                else
                {
                    write.Registration.WritesInFlight--;
                    _writesInFlight.Remove(write);
                }
            }
            _completed.Enqueue(completion);
            Volatile.Read(ref _completionCallback)?.Invoke();
        }
    }

    private FabricException Violation(string message)
    {
        _violations.Enqueue(message);
        return new FabricException($"memory fabric: {message}", -22);
    }

    private sealed class LiveRegistration(FabricRegistration handle)
    {
        public FabricRegistration Handle { get; } = handle;
        public int WritesInFlight { get; set; }
    }

    /// <summary>What one segment of a write copies (a zero range: clears, from no source).</summary>
    private readonly record struct Piece(nint Source, nint Destination, long Length);

    /// <summary>A write of one or more pieces, or (without a registration) a zero range.</summary>
    private sealed record PendingWrite(LiveRegistration? Registration, Piece[] Pieces, ulong Context, long Number)
    {
        public bool Overlaps(Piece other) =>
            Pieces.Any(piece => piece.Destination < other.Destination + (nint)other.Length && other.Destination < piece.Destination + (nint)piece.Length);
    }
}
