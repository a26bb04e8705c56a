using System.Buffers.Binary;
using RdmaCs.Bindings.LibFabric;

namespace RdmaCs.Fabric.LibFabric;

/// <summary>A passive endpoint: listens for one connection request and accepts or rejects it.</summary>
public sealed unsafe class FabricListener : IDisposable
{
    private readonly FabricDomain _domain;
    private fid_pep* _pep;

    internal FabricListener(FabricDomain domain, fid_fabric* fabric)
    {
        _domain = domain;
        fid_pep* pep;
        FabricCall.Check(Fi.fi_passive_ep(fabric, domain.Info.Info, &pep, null), "fi_passive_ep");
        _pep = pep;
        try
        {
            FabricCall.Check(Fi.fi_pep_bind(_pep, &domain.EventQueue->fid, 0), "fi_pep_bind");
            FabricCall.Check(Fi.fi_listen(_pep), "fi_listen");
            Port = ReadPort();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The port the provider bound (asked for as "0": any free one).</summary>
    public int Port { get; }

    /// <summary>
    /// Waits for a connection request. <paramref name="admit"/> sees the connection data the peer sent; a request it
    /// refuses is rejected and the wait goes on until the deadline, or until <paramref name="cancel"/> fires.
    /// </summary>
    public FabricEndpoint Accept(TimeSpan timeout, Func<byte[], bool> admit, Action<string> log, CancellationToken cancel = default)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            TimeSpan left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new FabricException($"no admissible RDMA connection within {timeout.TotalSeconds:0.#} s");
            }
            (nint requestInfo, byte[] data) = _domain.WaitFor(Fi.FI_CONNREQ, left, "waiting for the source's RDMA connection", cancel);
            var info = (fi_info*)requestInfo;
            try
            {
                if (!admit(data))
                {
                    log("refused an RDMA connection request whose connection data did not match this session");
                    Fi.fi_reject(_pep, info->handle, null, 0);
                    continue;
                }
                var endpoint = new FabricEndpoint(_domain, info);
                try
                {
                    FabricCall.Check(Fi.fi_accept(endpoint.Handle, null, 0), "fi_accept");
                    _domain.WaitFor(Fi.FI_CONNECTED, deadline - DateTime.UtcNow, "accepting the source's RDMA connection", cancel);
                    return endpoint;
                }
                catch
                {
                    endpoint.Dispose();
                    throw;
                }
            }
            finally
            {
                Fi.fi_freeinfo(info);
            }
        }
    }

    private int ReadPort()
    {
        byte* address = stackalloc byte[128];
        nuint length = 128;
        FabricCall.Check(Fi.fi_getname(&_pep->fid, address, &length), "fi_getname");
        // struct sockaddr_in and sockaddr_in6 both keep the port, big-endian, in bytes 2 and 3.
        return BinaryPrimitives.ReadUInt16BigEndian(new ReadOnlySpan<byte>(address + 2, 2));
    }

    public void Dispose()
    {
        if (_pep != null)
        {
            Fi.fi_close(&_pep->fid);
            _pep = null;
        }
    }
}
