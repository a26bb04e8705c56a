using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using RdmaCs.Bindings.LibFabric;
using RdmaCs.Fabric;
using RdmaCs.Fabric.LibFabric;
using RdmaCs.Memory;
using RdmaCs.Protocol;
using RdmaCs.Transfer;

namespace RdmaCs.Remote;

/// <summary>What one session on the destination came to.</summary>
/// <param name="Admitted">Whether the peer presented the right token (proved it was the source) before the session ended.</param>
public sealed record DestinationSessionResult(string Peer, bool Verified, string? Error, string? Provider, long Fences, TimeSpan Duration,
    bool Admitted = true);

/// <summary>What the destination has pinned: now, at most so far, and its budget; registrations made and given up.</summary>
public sealed record DestinationStatistics(long BudgetBytes, long PinnedBytes, long PeakPinnedBytes, long Registrations, long Deregistrations);

/// <summary>
/// The destination: listens for sources on a TCP control port, and for each admitted source exposes its RAM
/// blocks for RDMA writes (registered with FI_REMOTE_WRITE) only after the token checked out, in windows the source asks
/// for, never more than the budget at once (<see cref="ExposedWindows"/>); runs a progress thread while the source
/// writes, and revokes access (closes the endpoint and the registrations) before it reports the pages' hashes. A failed
/// session releases everything and leaves the server listening.
/// </summary>
public sealed class DestinationServer : IDisposable
{
    private readonly DestinationOptions _options;
    private readonly TaskCompletionSource<RamBlock[]> _blocks = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly int _pageSize;
    private readonly EngineLog _log;
    private readonly Socket _listener;
    private volatile ControlChannel? _current; // the session in progress, for Cancel
    private readonly CancellationTokenSource _cancelled = new(); // stops the session's fabric waits
    private readonly PinnedMemoryBudget _budget;
    private readonly DestinationCounters _counters = new();

    /// <summary>Listens at once; the RAM blocks may come later (<see cref="ExposeLater"/>, <see cref="SetBlocks"/>).</summary>
    public DestinationServer(DestinationOptions options, IReadOnlyList<RamBlock> blocks, int pageSize, EngineLog log)
        : this(options, pageSize, log) => SetBlocks(blocks);

    /// <summary>
    /// Listens at once, before the RAM blocks are known (QEMU learns them from the stream): a source that says hello
    /// before <see cref="SetBlocks"/> waits for them, within the handshake deadline.
    /// </summary>
    public static DestinationServer ExposeLater(DestinationOptions options, int pageSize, EngineLog log) => new(options, pageSize, log);

    private DestinationServer(DestinationOptions options, int pageSize, EngineLog log)
    {
        _options = options;
        _pageSize = pageSize;
        _log = log;
        _budget = new PinnedMemoryBudget(options.BudgetBytes);
        WindowLayout.For(options.BudgetBytes, Session.FenceTargetBytes, pageSize); // a budget too small fails here, not in a session
        _listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        try
        {
            _listener.Bind(new IPEndPoint(ListenAddress(options.ListenHost), options.Port));
            _listener.Listen(4);
        }
        catch (SocketException e)
        {
            _listener.Dispose();
            // Refusing here is what keeps a process that took the port first from meeting the source.
            throw new IOException($"cannot listen for the source on {options.ListenHost}:{options.Port}: {e.Message}" +
                                  (e.SocketErrorCode == SocketError.AddressAlreadyInUse ? " (another process holds that port)" : ""), e);
        }
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
    }

    /// <summary>An address to listen on: <paramref name="host"/> itself, or the first address its name resolves to.</summary>
    private static IPAddress ListenAddress(string host) =>
        IPAddress.TryParse(host, out IPAddress? address) ? address
        : Dns.GetHostAddresses(host).FirstOrDefault() ?? throw new ArgumentException($"cannot listen on {host}: the name has no address");

    /// <summary>The control port actually bound (useful when 0 was asked for).</summary>
    public int Port { get; }

    /// <summary>Any thread: what is pinned on this host for the sources' writes, against the budget.</summary>
    public DestinationStatistics Statistics =>
        new(_budget.Capacity, _budget.Reserved, _budget.Peak, _counters.Registrations, _counters.Deregistrations);

    /// <summary>The RAM blocks sessions expose; once.</summary>
    public void SetBlocks(IReadOnlyList<RamBlock> blocks)
    {
        if (!_blocks.TrySetResult([.. blocks]))
        {
            throw new InvalidOperationException("the RAM blocks were given already");
        }
    }

    /// <summary>The RAM blocks, waiting for them at most <paramref name="timeout"/> (or until cancelled).</summary>
    private RamBlock[] Blocks(TimeSpan timeout)
    {
        try
        {
            if (!_blocks.Task.Wait(timeout, _cancelled.Token))
            {
                throw new TimeoutException($"the RAM blocks to expose were not known within {timeout.TotalSeconds:0.#} s");
            }
        }
        catch (OperationCanceledException)
        {
            throw new OperationCanceledException("the destination was cancelled while a source waited for its RAM blocks");
        }
        return _blocks.Task.Result;
    }

    /// <summary>Waits for one source and runs its session to the end, successful or not.</summary>
    public DestinationSessionResult ServeOne(CancellationToken cancellation = default)
    {
        Socket socket = _listener.AcceptAsync(cancellation).AsTask().GetAwaiter().GetResult();
        using var control = new ControlChannel(socket);
        _current = control;
        if (_cancelled.IsCancellationRequested)
        {
            control.Dispose(); // Cancel ran between the accept and the line above
        }
        var clock = Stopwatch.StartNew();
        var session = new Session(this, control);
        try
        {
            session.Run();
            return new DestinationSessionResult(control.Peer, session.Verified, null, session.Provider, session.Fences, clock.Elapsed, session.Admitted);
        }
        catch (Exception e) when (e is ProtocolException or PeerLostException or PeerReportedException or FabricException or TimeoutException
                                       or OperationCanceledException)
        {
            _log(EngineLogLevel.Error, $"serve: session with {control.Peer} failed: {e.Message}");
            if (e is not (PeerLostException or PeerReportedException))
            {
                control.TrySendError(e.Message);
            }
            return new DestinationSessionResult(control.Peer, false, e.Message, session.Provider, session.Fences, clock.Elapsed, session.Admitted);
        }
        finally
        {
            _current = null;
            session.Release();
        }
    }

    /// <summary>Any thread: breaks the session in progress (it fails, releasing everything) and stops listening.</summary>
    public void Cancel()
    {
        try
        {
            _cancelled.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
        _listener.Dispose();
        _current?.Dispose();
    }

    public void Dispose()
    {
        _listener.Dispose();
        _cancelled.Dispose();
    }

    /// <summary>One source, from hello to verdict. Owns every fabric object it opens; <see cref="Release"/> closes them all.</summary>
    private sealed unsafe class Session(DestinationServer server, ControlChannel control)
    {
        private ExposedWindows? _windows;
        private long _reservedForItself; // taken from the budget for the fence target and the endpoint's queues (on a NIC: they pin)
        private FabricInfo? _info;
        private FabricDomain? _domain;
        private FabricListener? _listener;
        private FabricEndpoint? _endpoint;
        private Thread? _progress;
        private volatile bool _stopProgress;

        private RamBlock[] _blocks = [];
        private AlignedBuffer? _fenceTarget;
        private FabricMemoryRegion? _fenceRegion;

        public string? Provider { get; private set; }
        public bool Admitted { get; private set; }
        public long Fences { get; private set; }
        public bool Verified { get; private set; }
        public long ZeroPagesCleared { get; private set; }
        private ZeroPageScan? _zeroScan;

        public void Run()
        {
            DestinationOptions options = server._options;
            Hello hello = control.Expect<Hello>(options.HandshakeTimeout);
            Authenticate(hello); // first, and before waiting for anything: a stranger holds nothing up
            Admitted = true;
            _blocks = server.Blocks(options.HandshakeTimeout);
            Admit(hello);
            server._log(EngineLogLevel.Info, $"serve: admitted {control.Peer}: {hello.Blocks.Count} RAM block(s), page size {hello.PageSize}");

            string provider = options.Provider != "auto" ? options.Provider : hello.Provider;
            // On a wildcard address (libvirt's default is to listen on all) the fabric listens on all too; the source
            // reaches it at the address it reached this control port on.
            string? node = ListenAddress(options.ListenHost) is { } any && (any.Equals(IPAddress.Any) || any.Equals(IPAddress.IPv6Any)) ? null : options.ListenHost;
            _info = FabricInfo.Find(provider, node, "0", passive: true);
            Provider = _info.Provider;
            server._log(EngineLogLevel.Info, $"serve: provider {_info.Provider} on {_info.Domain} ({_info.Reason}); " +
                                             $"mr_mode 0x{_info.MrMode:x}, delivery-complete offered {(_info.DeliveryComplete ? "yes" : "no")}");
            RegistrationCaches.Report(server._log, "serve");
            _domain = FabricDomain.Open(_info);
            if (_info.Connected)
            {
                _listener = _domain.Listen();
            }
            else
            {
                _endpoint = _domain.OpenReliableDatagram(); // the source reaches it by its address, with the keys it is given
            }
            // The source's fence reads a few bytes back behind its writes: from this buffer, the only thing it may read.
            // On a NIC its page is pinned, as are the endpoint's queues: they come out of the budget before any window.
            long reserved = _info.RegistrationPins ? FenceTargetBytes + _info.PinnedQueueBytes : 0;
            WindowLayout layout;
            try
            {
                layout = WindowLayout.For(server._budget.Capacity, reserved, server._pageSize);
            }
            catch (Configuration.EngineConfigurationException e)
            {
                throw new FabricException(e.Message, inner: e);
            }
            if (!server._budget.TryReserve(reserved))
            {
                throw new FabricException($"the destination budget of {server._budget.Capacity} bytes has no room for the {reserved} bytes the fabric pins for itself");
            }
            _reservedForItself = reserved;
            _fenceTarget = new AlignedBuffer(FenceTargetBytes);
            _fenceRegion = _domain.Register(_fenceTarget.Address, FenceTargetBytes, Fi.FI_REMOTE_READ, 1);
            var fenceKey = new RemoteKey(_fenceRegion.Key, _info.RemoteAddressIsVirtual ? (ulong)_fenceTarget.Address : 0);
            _windows = new ExposedWindows(_domain, _blocks, layout, server._budget, server._counters);
            server._log(EngineLogLevel.Info, $"serve: guest RAM exposed in {layout} on demand, within a budget of " +
                                             $"{Configuration.ByteSize.Format(server._budget.Capacity)}" +
                                             (_reservedForItself > 0 ? $" ({_reservedForItself} bytes of it for the fence target and the endpoint's queues)" : "") +
                                             $"; pinning by {(_info.RegistrationPins ? "the fabric" : "mlock")}");
            ulong nonce = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
            control.Send(new Accept(_info.Provider, _listener?.Port ?? 0, _info.MrMode, nonce, layout.WindowBytes, layout.Windows, fenceKey,
                _listener is null ? _endpoint!.Address : []));

            if (_listener is not null)
            {
                byte[] expected = BitConverter.GetBytes(nonce);
                _endpoint = _listener.Accept(options.HandshakeTimeout, data => CryptographicOperations.FixedTimeEquals(data, expected),
                    message => server._log(EngineLogLevel.Warning, $"serve: {message}"), server._cancelled.Token);
                _listener.Dispose();
                _listener = null;
                StartProgress();
            }
            else
            {
                // RDM: no connection to accept. The source's fence read proves its endpoint reaches this one, and needs this
                // side's progress (shm, tcp;ofi_rxm move data only while the target reads its completion queue).
                StartProgress();
                control.Expect<Attached>(options.HandshakeTimeout);
            }
            options.Connected?.Invoke();

            bool verify = true;
            long unacknowledged = -1; // the last zero range cleared and not yet acknowledged
            while (true)
            {
                ControlMessage message = control.Receive(options.IdleTimeout);
                if (message is not ZeroPages && unacknowledged >= 0)
                {
                    control.Send(new ZeroAck(unacknowledged));
                    unacknowledged = -1;
                }
                switch (message)
                {
                    case Fence fence:
                        Fences++;
                        control.Send(new FenceAck(fence.Sequence));
                        continue;
                    case ZeroPages zero:
                        ClearZeroRange(zero);
                        unacknowledged = zero.Id;
                        // The source sends zero ranges in batches: one acknowledgement covers the batch.
                        if (!control.HasPendingInput)
                        {
                            control.Send(new ZeroAck(unacknowledged));
                            unacknowledged = -1;
                        }
                        continue;
                    case WindowRequest request:
                        control.Send(new WindowGrant(request.Window, _windows!.Expose(request.Window)));
                        continue;
                    case WindowRelease release:
                        _windows.Withdraw(release.Window);
                        continue;
                    case Done done:
                        verify = done.Verify;
                        break;
                    case ErrorMessage error:
                        throw new PeerReportedException(error.Reason);
                    case var other:
                        throw new ProtocolException($"unexpected {other.Type} during the transfer");
                }
                break;
            }

            // Nothing may write into guest memory once it is reported complete: revoke first.
            RevokeRemoteAccess();
            for (int i = 0; verify && i < _blocks.Length; i++)
            {
                foreach (PageHashes chunk in PageHashing.Chunk(i, PageHashing.HashPages(_blocks[i], server._pageSize)))
                {
                    control.Send(chunk);
                }
            }
            control.Send(new HashesEnd());
            Verdict verdict = control.Expect<Verdict>(options.HandshakeTimeout);
            Verified = verdict.Verified;
            server._log(verdict.Verified ? EngineLogLevel.Info : EngineLogLevel.Error,
                $"serve: transfer from {control.Peer} {(verdict.Verified ? "verified" : "NOT verified")}: {verdict.Detail}");
        }

        /// <summary>
        /// Makes the range zero, page by page, leaving pages that are zero already untouched (never-touched guest RAM stays
        /// unallocated). Every write before it has landed, and none to these pages comes before the acknowledgement.
        /// </summary>
        private void ClearZeroRange(ZeroPages zero)
        {
            int pageSize = server._pageSize;
            if (zero.Block >= _blocks.Length)
            {
                throw new ProtocolException($"zero range {zero.Id} names RAM block {zero.Block}; there are {_blocks.Length}");
            }
            RamBlock block = _blocks[zero.Block];
            if (zero.Offset % pageSize != 0 || zero.Length % pageSize != 0 || zero.Length == 0 || zero.Offset > block.Length - zero.Length)
            {
                throw new ProtocolException(
                    $"zero range {zero.Id} ({zero.Length} bytes at offset {zero.Offset}) is not whole pages inside RAM block '{block.Name}' ({block.Length} bytes)");
            }
            _zeroScan ??= new ZeroPageScan(pageSize);
            _zeroScan.ClearNonZero(block.Address + (nint)zero.Offset, zero.Length / pageSize, block.PrivateAnonymous);
            ZeroPagesCleared += zero.Length / pageSize;
        }

        /// <summary>The token, compared in constant time whatever its length (as digests: equal lengths always).</summary>
        private void Authenticate(Hello hello)
        {
            byte[] expected = SHA256.HashData(Encoding.UTF8.GetBytes(server._options.Token));
            byte[] offered = SHA256.HashData(Encoding.UTF8.GetBytes(hello.Token));
            if (!CryptographicOperations.FixedTimeEquals(expected, offered))
            {
                throw new ProtocolException("wrong token: the source is not authorized");
            }
        }

        /// <summary>Page size and block table; nothing is exposed before they and the token check out.</summary>
        private void Admit(Hello hello)
        {
            if (hello.PageSize != server._pageSize)
            {
                throw new ProtocolException($"page size mismatch: the source uses {hello.PageSize}, this destination {server._pageSize}");
            }
            string mine = Describe(_blocks.Select(b => new BlockDescriptor(b.Name, b.Length)));
            string theirs = Describe(hello.Blocks);
            if (mine != theirs)
            {
                throw new ProtocolException($"RAM block table mismatch: the source has {theirs}, this destination has {mine}");
            }
        }

        private static string Describe(IEnumerable<BlockDescriptor> blocks) => string.Join(", ", blocks.Select(b => $"{b.Name} ({b.Length} bytes)"));

        public const int FenceTargetBytes = 4096;

        private void StartProgress()
        {
            // The tcp provider places incoming writes only while the target reads its completion queue.
            _progress = BackgroundThread.Start("rdmacs-destination-progress", () =>
            {
                var none = new FabricCompletion[1];
                try
                {
                    while (!_stopProgress)
                    {
                        if (_endpoint!.ReadCompletions(none) == 0)
                        {
                            ProgressPause.Idle(_endpoint);
                        }
                    }
                }
                catch (FabricException e)
                {
                    // The control connection tells the session what happened; here it is only worth a line.
                    server._log(EngineLogLevel.Warning, $"serve: progress stopped: {e.Message}");
                }
            }, server._log);
        }

        private void RevokeRemoteAccess()
        {
            _stopProgress = true;
            _progress?.Join();
            _progress = null;
            _endpoint?.Dispose();
            _endpoint = null;
            _windows?.Dispose();
            _windows = null;
            _fenceRegion?.Dispose();
            _fenceRegion = null;
            _fenceTarget?.Dispose();
            _fenceTarget = null;
            server._budget.Release(_reservedForItself);
            _reservedForItself = 0;
        }

        public void Release()
        {
            RevokeRemoteAccess();
            _zeroScan?.Dispose();
            _zeroScan = null;
            _listener?.Dispose();
            _domain?.Dispose();
            _info?.Dispose();
            _listener = null;
            _domain = null;
            _info = null;
        }
    }
}
