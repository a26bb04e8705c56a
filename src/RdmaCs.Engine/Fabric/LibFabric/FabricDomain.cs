using RdmaCs.Bindings.LibFabric;

namespace RdmaCs.Fabric.LibFabric;

/// <summary>
/// An opened fabric, its event queue (connection events) and a domain (the NIC, or a socket stack): what
/// endpoints and memory registrations are made from. Closed in the reverse order of opening.
/// </summary>
public sealed unsafe class FabricDomain : IDisposable
{
    private fid_fabric* _fabric;
    private fid_eq* _eq;
    private fid_domain* _domain;

    private FabricDomain(FabricInfo info)
    {
        Info = info;
        try
        {
            fid_fabric* fabric;
            FabricCall.Check(Fi.fi_fabric(info.Info->fabric_attr, &fabric, null), "fi_fabric");
            _fabric = fabric;
            var eqAttributes = new fi_eq_attr { size = 64, wait_obj = fi_wait_obj.FI_WAIT_UNSPEC };
            fid_eq* eq;
            FabricCall.Check(Fi.fi_eq_open(_fabric, &eqAttributes, &eq, null), "fi_eq_open");
            _eq = eq;
            fid_domain* domain;
            FabricCall.Check(Fi.fi_domain(_fabric, info.Info, &domain, null), "fi_domain");
            _domain = domain;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public FabricInfo Info { get; }

    internal fid_domain* Domain => _domain;

    internal fid_eq* EventQueue => _eq;

    public static FabricDomain Open(FabricInfo info) => new(info);

    /// <summary>A passive endpoint listening on the address <see cref="Info"/> was resolved for.</summary>
    public FabricListener Listen() => new(this, _fabric);

    /// <summary>Connects to the address <paramref name="remote"/> resolved, sending <paramref name="parameters"/> with the request.</summary>
    public FabricEndpoint Connect(FabricInfo remote, ReadOnlySpan<byte> parameters, TimeSpan timeout, CancellationToken cancel = default)
    {
        var endpoint = new FabricEndpoint(this, remote.Info);
        try
        {
            fixed (byte* data = parameters)
            {
                FabricCall.Check(Fi.fi_connect(endpoint.Handle, remote.Info->dest_addr, data, (nuint)parameters.Length), "fi_connect");
            }
            WaitFor(Fi.FI_CONNECTED, timeout, "the connection to the destination", cancel);
            return endpoint;
        }
        catch
        {
            endpoint.Dispose();
            throw;
        }
    }

    /// <summary>
    /// An RDM endpoint (<see cref="FabricInfo.Connected"/> false): enabled at once, reachable at its
    /// <see cref="FabricEndpoint.Address"/>; with <paramref name="peer"/>, every operation goes to that address.
    /// </summary>
    public FabricEndpoint OpenReliableDatagram(ReadOnlySpan<byte> peer = default)
    {
        if (Info.Connected)
        {
            throw new InvalidOperationException($"{Info.Provider} was chosen for connected endpoints: listen or connect");
        }
        var endpoint = new FabricEndpoint(this, Info.Info);
        try
        {
            if (!peer.IsEmpty)
            {
                endpoint.SetPeer(peer);
            }
            return endpoint;
        }
        catch
        {
            endpoint.Dispose();
            throw;
        }
    }

    /// <summary>Registers [address, address + length) for the given access; the caller owns the region.</summary>
    public FabricMemoryRegion Register(nint address, long length, ulong access, ulong requestedKey) =>
        new(this, address, length, access, requestedKey);

    /// <summary>
    /// Waits for a connection-management event. Errors on the queue (refused, unreachable) become exceptions with
    /// the provider's reason; so does a different event or the deadline passing. Returns the event's
    /// <c>fi_info</c> (connection requests only; the caller frees it) and the connection data the peer sent.
    /// <paramref name="cancel"/> is looked at every 100 ms: a cancelled wait throws <see cref="OperationCanceledException"/>.
    /// </summary>
    internal (nint Info, byte[] Data) WaitFor(uint expected, TimeSpan timeout, string what, CancellationToken cancel = default)
    {
        const int DataCapacity = 256;
        const int SliceMilliseconds = 100;
        byte* buffer = stackalloc byte[sizeof(fi_eq_cm_entry) + DataCapacity];
        uint @event;
        long result;
        long deadline = Environment.TickCount64 + (long)Math.Clamp(timeout.TotalMilliseconds, 1, int.MaxValue);
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            long left = deadline - Environment.TickCount64;
            result = Fi.fi_eq_sread(_eq, &@event, buffer, (nuint)(sizeof(fi_eq_cm_entry) + DataCapacity),
                (int)Math.Clamp(left, 1, SliceMilliseconds), 0);
            if (!(FabricCall.IsAgain(result) || result == -Fi.FI_ETIMEDOUT) || left <= SliceMilliseconds)
            {
                break;
            }
        }
        if (result == -Fi.FI_EAVAIL)
        {
            fi_eq_err_entry error;
            Fi.fi_eq_readerr(_eq, &error, 0);
            throw new FabricException($"{what} failed: {FabricCall.Describe(error.err)} (provider error {error.prov_errno})", -error.err);
        }
        if (FabricCall.IsAgain(result) || result == -Fi.FI_ETIMEDOUT)
        {
            throw new FabricException($"{what} timed out after {timeout.TotalSeconds:0.#} s", (int)result);
        }
        FabricCall.Check(result, $"fi_eq_sread ({what})");
        var entry = (fi_eq_cm_entry*)buffer;
        if (@event != expected)
        {
            if (entry->info != null)
            {
                Fi.fi_freeinfo(entry->info);
            }
            throw new FabricException($"{what}: expected event {EventName(expected)}, got {EventName(@event)}");
        }
        int dataLength = (int)Math.Max(0, result - sizeof(fi_eq_cm_entry));
        return ((nint)entry->info, new ReadOnlySpan<byte>(buffer + sizeof(fi_eq_cm_entry), dataLength).ToArray());
    }

    private static string EventName(uint @event) => @event switch
    {
        Fi.FI_CONNREQ => "FI_CONNREQ",
        Fi.FI_CONNECTED => "FI_CONNECTED",
        Fi.FI_SHUTDOWN => "FI_SHUTDOWN (the peer disconnected)",
        _ => $"#{@event}",
    };

    public void Dispose()
    {
        if (_domain != null)
        {
            Fi.fi_close(&_domain->fid);
            _domain = null;
        }
        if (_eq != null)
        {
            Fi.fi_close(&_eq->fid);
            _eq = null;
        }
        if (_fabric != null)
        {
            Fi.fi_close(&_fabric->fid);
            _fabric = null;
        }
    }
}
