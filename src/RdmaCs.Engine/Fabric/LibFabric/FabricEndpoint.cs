using System.Runtime.InteropServices;
using RdmaCs.Bindings.LibFabric;

namespace RdmaCs.Fabric.LibFabric;

/// <summary>
/// An endpoint and its completion queue: connected (FI_EP_MSG), or reliable datagram (FI_EP_RDM) with an address vector
/// that holds its one peer.
/// </summary>
public sealed unsafe partial class FabricEndpoint : IDisposable
{
    private fid_ep* _ep;
    private fid_cq* _cq;
    private fid_av* _av;
    private readonly int _waitFd;
    private readonly OperationContexts? _contexts; // where the provider needs fi_context2 structures
    private ulong _peer = Fi.FI_ADDR_UNSPEC;       // RDM: the destination's address in the vector; MSG: unused

    internal FabricEndpoint(FabricDomain domain, fi_info* info)
    {
        try
        {
            fid_ep* ep;
            FabricCall.Check(Fi.fi_endpoint(domain.Domain, info, &ep, null), "fi_endpoint");
            _ep = ep;
            _contexts = FabricInfo.NeedsContextStructures(info) ? new OperationContexts() : null;
            // A file descriptor as the wait object (where the provider offers one): polling it tells a progress thread
            // whether a socket of the endpoint holds data it has not read yet (see HasInput).
            var attributes = new fi_cq_attr
            {
                size = Math.Max(info->tx_attr->size, 64),
                format = fi_cq_format.FI_CQ_FORMAT_CONTEXT,
                wait_obj = fi_wait_obj.FI_WAIT_FD,
            };
            fid_cq* cq;
            if (Fi.fi_cq_open(domain.Domain, &attributes, &cq, null) != 0)
            {
                attributes.wait_obj = fi_wait_obj.FI_WAIT_UNSPEC;
                FabricCall.Check(Fi.fi_cq_open(domain.Domain, &attributes, &cq, null), "fi_cq_open");
            }
            _cq = cq;
            int waitFd = -1;
            _waitFd = attributes.wait_obj == fi_wait_obj.FI_WAIT_FD && Fi.fi_control(&cq->fid, (int)Fi.FI_GETWAIT, &waitFd) == 0 ? waitFd : -1;
            if (info->ep_attr->type == fi_ep_type.FI_EP_MSG)
            {
                FabricCall.Check(Fi.fi_ep_bind(_ep, &domain.EventQueue->fid, 0), "fi_ep_bind (event queue)");
            }
            else
            {
                var avAttributes = new fi_av_attr { type = fi_av_type.FI_AV_UNSPEC, count = 1 };
                fid_av* av;
                FabricCall.Check(Fi.fi_av_open(domain.Domain, &avAttributes, &av, null), "fi_av_open");
                _av = av;
                FabricCall.Check(Fi.fi_ep_bind(_ep, &_av->fid, 0), "fi_ep_bind (address vector)");
            }
            FabricCall.Check(Fi.fi_ep_bind(_ep, &_cq->fid, Fi.FI_TRANSMIT | Fi.FI_RECV), "fi_ep_bind (completion queue)");
            FabricCall.Check(Fi.fi_enable(_ep), "fi_enable");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    internal fid_ep* Handle => _ep;

    /// <summary>This endpoint's address as the provider names it (<c>fi_getname</c>): what an RDM peer inserts to reach it.</summary>
    public byte[] Address
    {
        get
        {
            byte* name = stackalloc byte[MaxAddressBytes];
            nuint length = MaxAddressBytes;
            FabricCall.Check(Fi.fi_getname(&_ep->fid, name, &length), "fi_getname");
            return new ReadOnlySpan<byte>(name, (int)length).ToArray();
        }
    }

    /// <summary>The longest endpoint address rdma-cs carries (shm's names and the sockaddrs of tcp fit with room).</summary>
    public const int MaxAddressBytes = 256;

    /// <summary>RDM: makes <paramref name="address"/> (the destination's <see cref="Address"/>) the peer every operation goes to.</summary>
    public void SetPeer(ReadOnlySpan<byte> address)
    {
        if (_av == null)
        {
            throw new InvalidOperationException("a connected endpoint has its peer already");
        }
        ulong peer;
        fixed (byte* name = address)
        {
            int inserted = Fi.fi_av_insert(_av, name, 1, &peer, 0, null);
            if (inserted != 1)
            {
                throw new FabricException($"the destination's address ({address.Length} bytes) could not be inserted into the address vector: " +
                                          (inserted < 0 ? FabricCall.Describe(inserted) : "refused"), inserted < 0 ? inserted : 0);
            }
        }
        _peer = peer;
    }

    /// <summary>
    /// The largest RMA one operation may move: the endpoint's FI_OPT_MAX_RMA_SIZE where the provider answers it (efa
    /// bounds it below its messages), else the endpoint's largest message.
    /// </summary>
    public long MaxRmaBytes(FabricInfo info)
    {
        nuint size = 0;
        nuint length = (nuint)sizeof(nuint);
        return Fi.fi_getopt(&_ep->fid, (int)Fi.FI_OPT_ENDPOINT, Fi.FI_OPT_MAX_RMA_SIZE, &size, &length) == 0 && size > 0
            ? (long)Math.Min(size, long.MaxValue)
            : info.MaxMessageBytes;
    }

    /// <summary>
    /// Posts one RMA write of one or more local ranges, each to its own remote range under the same key (fi_writemsg),
    /// with <paramref name="flags"/> and none of the endpoint's defaults; false when the send queue is full (-FI_EAGAIN):
    /// progress, then try again.
    /// </summary>
    public bool TryWrite(ReadOnlySpan<WriteSegment> segments, void* descriptor, ulong remoteBase, ulong key, ulong context, ulong flags)
    {
        int count = segments.Length;
        iovec* local = stackalloc iovec[count];
        void** descriptors = stackalloc void*[count];
        fi_rma_iov* remote = stackalloc fi_rma_iov[count];
        for (int i = 0; i < count; i++)
        {
            local[i] = new iovec { iov_base = (void*)segments[i].LocalAddress, iov_len = (nuint)segments[i].Length };
            descriptors[i] = descriptor;
            remote[i] = new fi_rma_iov { addr = remoteBase + (ulong)segments[i].RemoteOffset, len = (nuint)segments[i].Length, key = key };
        }
        var message = new fi_msg_rma
        {
            msg_iov = local,
            desc = descriptors,
            iov_count = (nuint)count,
            rma_iov = remote,
            rma_iov_count = (nuint)count,
            context = OperationContext(context),
            addr = _peer,
        };
        long result = Fi.fi_writemsg(_ep, &message, flags);
        return Posted(result, message.context, "fi_writemsg");
    }

    /// <summary>What libfabric is given as an operation's context: the number itself, or an entry that carries it.</summary>
    private void* OperationContext(ulong context) => _contexts is null ? (void*)context : _contexts.Take(context);

    /// <summary>True when posted; false when the queue is full (the context entry is free again); throws on errors.</summary>
    private bool Posted(long result, void* context, string call)
    {
        if (result != 0)
        {
            _contexts?.Return(context);
        }
        if (FabricCall.IsAgain(result))
        {
            return false;
        }
        FabricCall.Check(result, call);
        return true;
    }

    /// <summary>The number a completion's context carries back.</summary>
    private ulong CompletedContext(void* context) => _contexts is null || context == null ? (ulong)context : _contexts.Return(context);

    /// <summary>Posts an RMA read; false when the send queue is full (-FI_EAGAIN).</summary>
    public bool TryRead(nint local, long length, void* descriptor, ulong remoteAddress, ulong key, ulong context)
    {
        void* operation = OperationContext(context);
        long result = Fi.fi_read(_ep, (void*)local, (nuint)length, descriptor, _peer, remoteAddress, key, operation);
        return Posted(result, operation, "fi_read");
    }

    /// <summary>
    /// Reads completions without blocking (or, with <paramref name="waitMilliseconds"/> &gt; 0, sleeping in the provider up to
    /// that long). Drives the provider's progress, which the tcp provider needs on both sides. Failed operations come back
    /// with the provider's reason.
    /// </summary>
    public int ReadCompletions(Span<FabricCompletion> completions, int waitMilliseconds = 0)
    {
        const int Batch = 64;
        fi_cq_entry* entries = stackalloc fi_cq_entry[Batch];
        long result = waitMilliseconds > 0
            ? Fi.fi_cq_sread(_cq, entries, (nuint)Math.Min(Batch, Math.Max(1, completions.Length)), null, waitMilliseconds)
            : Fi.fi_cq_read(_cq, entries, (nuint)Math.Min(Batch, completions.Length));
        if (result > 0)
        {
            for (int i = 0; i < result; i++)
            {
                completions[i] = new FabricCompletion(CompletedContext(entries[i].op_context));
            }
            return (int)result;
        }
        if (result == -Fi.FI_EAVAIL && completions.Length > 0)
        {
            fi_cq_err_entry error;
            FabricCall.Check(Fi.fi_cq_readerr(_cq, &error, 0), "fi_cq_readerr");
            byte* text = stackalloc byte[256];
            string detail = Marshal.PtrToStringUTF8((nint)Fi.fi_cq_strerror(_cq, error.prov_errno, error.err_data, (sbyte*)text, 256)) ?? "";
            completions[0] = new FabricCompletion(CompletedContext(error.op_context), -error.err,
                $"{FabricCall.Describe(error.err)}{(detail.Length > 0 ? $" ({detail})" : "")}");
            return 1;
        }
        if (FabricCall.IsAgain(result) || result == -Fi.FI_ETIMEDOUT)
        {
            return 0;
        }
        FabricCall.Check(result, "fi_cq_read");
        return 0;
    }

    /// <summary>
    /// True when the provider has input it has not read yet (a socket of the endpoint is readable): a progress thread then
    /// reads the completion queue again at once instead of pausing. The tcp provider reads one message per call when the
    /// message is larger than its prefetch buffer (about 4.5 KiB), so a pause after each call capped writes of a few
    /// pages at one per pause (8 KiB writes: 75 MB/s). False where the provider offers no wait descriptor.
    /// </summary>
    public bool HasInput
    {
        get
        {
            if (_waitFd < 0)
            {
                return false;
            }
            var descriptor = new PollDescriptor { Fd = _waitFd, Events = PollIn };
            return poll(&descriptor, 1, 0) > 0 && (descriptor.ReturnedEvents & PollIn) != 0;
        }
    }

    private const short PollIn = 0x001;

    private struct PollDescriptor
    {
        public int Fd;
        public short Events;
        public short ReturnedEvents;
    }

    [LibraryImport("libc", EntryPoint = "poll")]
    private static partial int poll(PollDescriptor* descriptors, nuint count, int timeoutMilliseconds);

    /// <summary>Closes the endpoint first (no more remote access through it), then its address vector and completion queue.</summary>
    public void Dispose()
    {
        if (_ep != null)
        {
            Fi.fi_close(&_ep->fid);
            _ep = null;
        }
        if (_av != null)
        {
            Fi.fi_close(&_av->fid);
            _av = null;
        }
        if (_cq != null)
        {
            Fi.fi_close(&_cq->fid);
            _cq = null;
        }
        _contexts?.Dispose();
    }
}

/// <summary>One registered range: its key (what the peer names it by) and descriptor (what local writes pass).</summary>
public sealed unsafe class FabricMemoryRegion : IDisposable
{
    private fid_mr* _mr;

    internal FabricMemoryRegion(FabricDomain domain, nint address, long length, ulong access, ulong requestedKey)
    {
        Address = address;
        Length = length;
        fid_mr* mr;
        FabricCall.Check(Fi.fi_mr_reg(domain.Domain, (void*)address, (nuint)length, access, 0, requestedKey, 0, &mr, null),
            $"fi_mr_reg of {length} bytes");
        _mr = mr;
    }

    public nint Address { get; }
    public long Length { get; }
    public ulong Key => Fi.fi_mr_key(_mr);
    public void* Descriptor => Fi.fi_mr_desc(_mr);

    public void Dispose()
    {
        if (_mr != null)
        {
            Fi.fi_close(&_mr->fid);
            _mr = null;
        }
    }
}
