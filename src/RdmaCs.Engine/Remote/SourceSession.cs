using RdmaCs.Bindings.LibFabric;
using System.Collections.Concurrent;
using System.Text;
using RdmaCs.Configuration;
using RdmaCs.Fabric;
using RdmaCs.Fabric.LibFabric;
using RdmaCs.Protocol;
using RdmaCs.Transfer;

namespace RdmaCs.Remote;

/// <summary>How the final comparison of the two sides came out.</summary>
public sealed record VerificationResult(bool Verified, long Mismatches, string Detail);

/// <summary>
/// The source's end of a live transfer: says hello (token, page size, RAM blocks), connects its RDMA endpoint
/// to what the destination accepted, and runs the engine over it. Each round is a flush followed by a fence the
/// destination acknowledges; <see cref="Finish"/> asks the destination to revoke access and compares page hashes.
/// A pump thread reads the control connection throughout, so that a destination that dies or gives up stops a
/// flush at once instead of at its deadline.
/// </summary>
public sealed class SourceSession : IDisposable
{
    private readonly SourceOptions _options;
    private readonly RamBlock[] _blocks;
    private readonly int _pageSize;
    private readonly EngineLog _log;
    private readonly ControlChannel _control;
    /// <summary>
    /// Replies waiting for the session's thread. Bounded: each is a reply to something asked (a fence's
    /// acknowledgement, page hashes), so a destination that keeps sending more than is taken is refused, not buffered.
    /// </summary>
    private readonly BlockingCollection<ControlMessage> _incoming = new(boundedCapacity: IncomingLimit);
    private const int IncomingLimit = 64;
    private readonly CancellationTokenSource _peerGone = new();
    private readonly Thread? _pump;
    private Exception? _peerFailure;
    private FabricInfo? _info;
    private FabricDomain? _domain;
    private FabricEndpoint? _endpoint;
    private LibFabricFabric? _fabric;

    private SourceSession(SourceOptions options, EngineOptions? engineOptions, int pageSize, IReadOnlyList<RamBlock> blocks, EngineLog log,
        CancellationToken cancel)
    {
        _options = options;
        _blocks = [.. blocks];
        _pageSize = pageSize;
        _log = log;
        _control = ControlChannel.Connect(options.Host, options.Port, options.HandshakeTimeout);
        // Cancelling closes the control connection: a handshake blocked on the destination fails at once.
        using CancellationTokenRegistration abort = cancel.Register(_control.Dispose);
        try
        {
            _control.Send(new Hello(_pageSize, options.Token, options.Provider,
                [.. _blocks.Select(b => new BlockDescriptor(b.Name, b.Length))]));
            Accept accept = _control.Expect<Accept>(options.HandshakeTimeout);
            var windows = new WindowLayout(accept.WindowBytes, accept.Windows);

            _info = accept.Datagram
                ? FabricInfo.Find(accept.Provider, null, null, passive: false, fi_ep_type.FI_EP_RDM)
                : FabricInfo.Find(accept.Provider, options.Host, accept.FabricPort.ToString(System.Globalization.CultureInfo.InvariantCulture), passive: false,
                    fi_ep_type.FI_EP_MSG);
            _log(EngineLogLevel.Info, $"send: provider {_info.Provider} on {_info.Domain}; mr_mode 0x{_info.MrMode:x} " +
                                      $"({(_info.RemoteAddressIsVirtual ? "virtual addresses" : "offsets")}, " +
                                      $"{(_info.ProviderChoosesKeys ? "provider keys" : "application keys")}), " +
                                      $"writes kept in order {(_info.OrdersWrites ? "yes" : "no (never two to one page in flight)")}, " +
                                      $"up to {_info.MaxWriteSegments} segment(s) per write");
            RegistrationCaches.Report(_log, "send");
            _domain = FabricDomain.Open(_info);
            _endpoint = accept.Datagram
                ? _domain.OpenReliableDatagram(accept.FabricAddress)
                : _domain.Connect(_info, BitConverter.GetBytes(accept.Nonce), options.HandshakeTimeout, cancel);
            // The destination registers its RAM in windows, on this side's request (the keys come with the grants).
            _fabric = new LibFabricFabric(_domain, _endpoint, [.. _blocks.Select(b => new RemoteBlock(b.Name, b.Length, 0, 0))],
                new RemoteBlock("fence target", 8, accept.FenceTarget.Key, accept.FenceTarget.BaseAddress), _control.SendAll, windows);
            _log(EngineLogLevel.Info, $"send: the destination exposes guest RAM in {windows} at once, registered on demand");
            if (accept.Datagram)
            {
                // RDM: nothing has crossed the fabric yet. A fence read proves this endpoint reaches the destination's.
                _fabric.Fence(options.HandshakeTimeout);
                _control.Send(new Attached());
            }
            _log(EngineLogLevel.Info, _fabric.WritesDeliveryComplete
                ? "send: writes complete once delivered"
                : "send: writes complete once sent; the fence reads before zero ranges and at the end prove delivery");
            long maxWrite = _endpoint.MaxRmaBytes(_info);
            if (engineOptions?.FittedTo(windows.WindowBytes, maxWrite) is { } fitted && fitted != engineOptions)
            {
                _log(EngineLogLevel.Info, $"send: max block {Configuration.ByteSize.Format(fitted.MaxBlockBytes)}, not " +
                                          $"{Configuration.ByteSize.Format(engineOptions.MaxBlockBytes)}: a write must neither cross a destination " +
                                          $"window ({Configuration.ByteSize.Format(windows.WindowBytes)}) nor exceed the provider's largest RMA ({maxWrite} bytes)");
                engineOptions = fitted;
            }
            _engine = engineOptions is null ? null : new TransferEngine(engineOptions, _fabric, _blocks, log);
            _pump = BackgroundThread.Start("rdmacs-control-pump", Pump, log);
        }
        catch (Exception e) when (cancel.IsCancellationRequested)
        {
            ReleaseFabric();
            _control.Dispose();
            throw new OperationCanceledException("the connection to the destination was cancelled", e, cancel);
        }
        catch
        {
            ReleaseFabric();
            _control.Dispose();
            throw;
        }
    }

    private TransferEngine? _engine;

    /// <summary>The engine writing over this session's fabric (absent in sessions opened with <see cref="OpenWithoutEngine"/>).</summary>
    public TransferEngine Engine => _engine ?? throw new InvalidOperationException("this session was opened without an engine");

    /// <summary>The fabric, for callers that drive it themselves (the transfer benchmark's baselines); never both it and the engine.</summary>
    public IFabric Fabric => _fabric ?? throw new ObjectDisposedException(nameof(SourceSession));

    public string Provider => _info?.Provider ?? "?";

    /// <summary>
    /// Connects to the destination and sets up the engine; throws with the reason when refused or unreachable, and
    /// <see cref="OperationCanceledException"/> at once when <paramref name="cancel"/> fires during the handshake.
    /// </summary>
    public static SourceSession Open(SourceOptions options, EngineOptions engineOptions, IReadOnlyList<RamBlock> blocks, EngineLog log,
        CancellationToken cancel = default) =>
        new(options, engineOptions, engineOptions.PageSize, blocks, log, cancel);

    /// <summary>A session whose caller writes through <see cref="Fabric"/> itself, and fences with <see cref="Fence"/>.</summary>
    public static SourceSession OpenWithoutEngine(SourceOptions options, int pageSize, IReadOnlyList<RamBlock> blocks, EngineLog log) =>
        new(options, null, pageSize, blocks, log, CancellationToken.None);

    /// <summary>Ends round <paramref name="sequence"/>: every designated page written and completed, and the destination told.</summary>
    public void CompleteRound(long sequence)
    {
        try
        {
            if (!Engine.FlushAsync(sequence, _peerGone.Token).Wait(_options.RoundTimeout))
            {
                throw new TimeoutException($"round {sequence} did not finish within {_options.RoundTimeout.TotalSeconds:0} s");
            }
        }
        catch (AggregateException e) when (e.InnerException is OperationCanceledException)
        {
            throw PeerFailure();
        }
        catch (AggregateException e) when (e.InnerException is EngineFailedException failure)
        {
            throw RootCause(failure);
        }
        catch (AggregateException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
        }
        Fence(sequence);
    }

    /// <summary>
    /// Paces a round that does not wait for every page: returns once the engine's backlog is down to
    /// <paramref name="lowWater"/> bytes. Nothing goes to the destination (pages a round leaves behind land before
    /// <see cref="CompleteRound"/> at the end); a lost destination or a stalled transfer still ends it.
    /// </summary>
    public void PaceRound(long lowWater)
    {
        if (_peerFailure is not null)
        {
            throw PeerFailure(); // a lost destination fails the round even when nothing is left to wait for
        }
        try
        {
            Engine.WaitForBacklog(lowWater, _options.RoundTimeout, _peerGone.Token);
        }
        catch (OperationCanceledException)
        {
            throw PeerFailure();
        }
        catch (EngineFailedException failure)
        {
            throw RootCause(failure);
        }
    }

    /// <summary>
    /// What to report for the engine's failure: the destination's own reason when it gave one. A destination that
    /// fails (a window it cannot lock, say) sends its reason and hangs up, and the engine may trip over the hang-up (a
    /// refused send, an aborted wait) before the control thread has read the reason: it is given a moment to arrive.
    /// </summary>
    private Exception RootCause(EngineFailedException failure)
    {
        try
        {
            _peerGone.Token.WaitHandle.WaitOne(PeerReasonGrace);
        }
        catch (ObjectDisposedException)
        {
        }
        return _peerFailure is PeerReportedException ? PeerFailure() : failure;
    }

    private static readonly TimeSpan PeerReasonGrace = TimeSpan.FromSeconds(1);

    /// <summary>Tells the destination that round <paramref name="sequence"/> is complete, and waits for its acknowledgement.</summary>
    public void Fence(long sequence)
    {
        // Every write has completed; the read fence makes sure each has also landed before the destination hears so.
        try
        {
            _fabric!.Fence(_options.RoundTimeout);
        }
        catch (Exception e) when (e is FabricException or TimeoutException && _peerFailure is not null)
        {
            throw PeerFailure(); // the control connection failed first (and aborted the fence): that is the reason
        }
        _control.Send(new Fence(sequence));
        FenceAck ack = Next<FenceAck>();
        if (ack.Sequence != sequence)
        {
            throw new ProtocolException($"the destination acknowledged fence {ack.Sequence}, not {sequence}");
        }
    }



    /// <summary>
    /// Tells the destination the transfer is over (it revokes remote access), then, when <paramref name="verify"/>,
    /// compares its page hashes with this side's.
    /// </summary>
    public VerificationResult Finish(bool verify = true)
    {
        _control.Send(new Done(verify));
        // This runs while the guest is stopped: without verification, nothing per page is allocated.
        ulong[][]? theirs = verify ? [.. _blocks.Select(b => new ulong[b.Length / _pageSize])] : null;
        while (true)
        {
            ControlMessage message = Next<ControlMessage>();
            if (message is HashesEnd)
            {
                break;
            }
            if (message is not PageHashes chunk)
            {
                throw new ProtocolException($"expected PageHashes, got {message.Type}");
            }
            if (theirs is null)
            {
                throw new ProtocolException("the destination sent page hashes although verification is off");
            }
            if (chunk.Block >= theirs.Length || chunk.FirstPage + chunk.Hashes.Length > theirs[chunk.Block].Length)
            {
                throw new ProtocolException($"PageHashes for block {chunk.Block} pages {chunk.FirstPage}+{chunk.Hashes.Length} lie outside the RAM blocks");
            }
            chunk.Hashes.CopyTo(theirs[chunk.Block], chunk.FirstPage);
        }

        long pages = _blocks.Sum(b => b.Length / _pageSize);
        if (!verify)
        {
            var unverified = new VerificationResult(true, 0, $"{pages} pages not compared (verification off)");
            _control.Send(new Verdict(true, 0, unverified.Detail));
            return unverified;
        }
        long mismatches = 0;
        var detail = new StringBuilder();
        for (int i = 0; i < _blocks.Length; i++)
        {
            ulong[] mine = PageHashing.HashPages(_blocks[i], _pageSize);
            for (long page = 0; page < mine.Length; page++)
            {
                if (mine[page] != theirs![i][page] && mismatches++ < 5)
                {
                    detail.Append($"{_blocks[i].Name} page {page}; ");
                }
            }
        }
        var result = new VerificationResult(mismatches == 0, mismatches,
            mismatches == 0 ? $"all {pages} page hashes match" : $"{mismatches} of {pages} pages differ, first: {detail.ToString().TrimEnd(' ', ';')}");
        _control.Send(new Verdict(result.Verified, result.Mismatches, result.Detail));
        return result;
    }

    /// <summary>
    /// Any thread: stops the fabric's waits (a fence, a full send queue) and breaks the control connection, so that a
    /// round or a wait in progress ends at once, even when the destination has stopped answering.
    /// </summary>
    public void Abort()
    {
        Volatile.Read(ref _engine)?.Abandon();
        Volatile.Read(ref _fabric)?.Abort();
        _control.Dispose();
    }

    public void Dispose()
    {
        ReleaseFabric();
        _control.Dispose();
        _pump?.Join(TimeSpan.FromSeconds(5));
        _peerGone.Dispose();
    }

    /// <summary>Engine first (it deregisters what it pinned), then the progress thread, endpoint, domain.</summary>
    private void ReleaseFabric()
    {
        _engine?.Dispose();
        _fabric?.Dispose();
        _endpoint?.Dispose();
        _domain?.Dispose();
        _info?.Dispose();
        _engine = null;
        _fabric = null;
        _endpoint = null;
        _domain = null;
        _info = null;
    }

    private void Pump()
    {
        try
        {
            while (true)
            {
                ControlMessage message = _control.Receive(Timeout.InfiniteTimeSpan);
                if (message is ErrorMessage error)
                {
                    throw new PeerReportedException(error.Reason);
                }
                if (message is ZeroAck zeroAck)
                {
                    _fabric?.CompleteZeroRanges(zeroAck.Id);
                    continue;
                }
                if (message is WindowGrant grant)
                {
                    _fabric?.WindowGranted(grant);
                    continue;
                }
                if (!_incoming.TryAdd(message, _options.RoundTimeout))
                {
                    throw new ProtocolException(
                        $"the destination sent more than {IncomingLimit} messages that were not taken within {_options.RoundTimeout.TotalSeconds:0} s " +
                        $"(the last a {message.Type}): it is not following the protocol");
                }
            }
        }
        catch (Exception e)
        {
            _peerFailure = e is ObjectDisposedException ? new PeerLostException("the control connection was closed") : e;
            _fabric?.Abort(); // a fence or a full send queue would otherwise wait for a peer that is gone
            _fabric?.FailZeroRanges($"the destination was lost before it cleared the zero range: {_peerFailure.Message}");
            _incoming.CompleteAdding();
            _peerGone.Cancel();
        }
    }

    private T Next<T>() where T : ControlMessage
    {
        try
        {
            if (!_incoming.TryTake(out ControlMessage? message, (int)_options.RoundTimeout.TotalMilliseconds, _peerGone.Token))
            {
                throw new TimeoutException($"the destination did not answer within {_options.RoundTimeout.TotalSeconds:0} s");
            }
            return message as T ?? throw new ProtocolException($"expected {typeof(T).Name}, got {message.Type}");
        }
        catch (Exception e) when (e is OperationCanceledException or InvalidOperationException)
        {
            if (_incoming.TryTake(out ControlMessage? late) && late is T expected)
            {
                return expected;
            }
            throw PeerFailure();
        }
    }

    private Exception PeerFailure() => _peerFailure switch
    {
        PeerReportedException reported => new PeerReportedException(reported.Reason),
        { } failure => new PeerLostException($"the destination was lost: {failure.Message}", failure),
        null => new PeerLostException("the destination was lost"),
    };
}
