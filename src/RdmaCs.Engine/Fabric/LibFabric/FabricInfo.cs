using System.Runtime.InteropServices;
using RdmaCs.Bindings.LibFabric;

namespace RdmaCs.Fabric.LibFabric;

/// <summary>
/// One <c>fi_info</c> chosen by <c>fi_getinfo</c>: the provider, fabric and domain rdma-cs will use, with RMA writes,
/// on connected endpoints (FI_EP_MSG: verbs, tcp) or, where a provider has none, reliable datagram endpoints
/// (FI_EP_RDM: efa, shm, the ofi_rxm utility provider over verbs or tcp). Owns the list it came from
/// (<c>fi_freeinfo</c>).
/// </summary>
public sealed unsafe class FabricInfo : IDisposable
{
    /// <summary>Providers tried, in order, when none is named: RDMA NICs first, software last.</summary>
    public static readonly string[] AutomaticOrder = ["verbs", "efa", "tcp"];

    /// <summary>The memory registration modes rdma-cs can handle (what verbs asks for; tcp asks for none).</summary>
    private const int SupportedMrMode = Fi.FI_MR_LOCAL | Fi.FI_MR_VIRT_ADDR | Fi.FI_MR_ALLOCATED | Fi.FI_MR_PROV_KEY;

    /// <summary>
    /// The operation modes rdma-cs can honour: FI_CONTEXT and FI_CONTEXT2 (the provider keeps state in the context of each
    /// operation: efa asks for FI_CONTEXT2), given by <see cref="OperationContexts"/>.
    /// </summary>
    private const ulong SupportedModes = Fi.FI_CONTEXT | Fi.FI_CONTEXT2;

    private fi_info* _list;

    private FabricInfo(fi_info* list, string reason)
    {
        _list = list;
        Reason = reason;
    }

    public fi_info* Info => _list;

    /// <summary>Why this provider: what was asked and what the others answered.</summary>
    public string Reason { get; }

    public string Provider => Marshal.PtrToStringUTF8((nint)_list->fabric_attr->prov_name) ?? "?";

    public string Domain => Marshal.PtrToStringUTF8((nint)_list->domain_attr->name) ?? "?";

    public int MrMode => _list->domain_attr->mr_mode;

    /// <summary>Connected (FI_EP_MSG) or reliable datagram (FI_EP_RDM): how the source reaches the destination's endpoint.</summary>
    public fi_ep_type EndpointType => _list->ep_attr->type;

    /// <summary>True for connected endpoints (a connection request carries the session's nonce); false for RDM (an address vector).</summary>
    public bool Connected => EndpointType == fi_ep_type.FI_EP_MSG;

    /// <summary>True when each operation's context must point at a <c>struct fi_context2</c> the provider may write (FI_CONTEXT, FI_CONTEXT2).</summary>
    internal static bool NeedsContextStructures(fi_info* info) => (info->mode & SupportedModes) != 0;

    /// <summary>The largest message, and so RMA, one operation may carry (the endpoint may say less: see FabricEndpoint.MaxRmaBytes).</summary>
    public long MaxMessageBytes => (long)Math.Min(_list->ep_attr->max_msg_size, long.MaxValue);

    /// <summary>The link rate the NIC reports (<c>nic->link_attr->speed</c>), in bits per second; 0 when it reports none.</summary>
    public double LinkBitsPerSecond => _list->nic != null && _list->nic->link_attr != null ? _list->nic->link_attr->speed : 0;

    /// <summary>How many bytes of a registration key the provider keeps (keys chosen by the application must fit).</summary>
    public int KeyBytes => (int)Math.Clamp(_list->domain_attr->mr_key_size, 1, 8);
    /// <summary>Remote addresses are virtual addresses of the target (verbs); otherwise offsets from the registration (tcp).</summary>
    public bool RemoteAddressIsVirtual => (MrMode & Fi.FI_MR_VIRT_ADDR) != 0;

    /// <summary>The provider chooses registration keys (verbs); otherwise the application does (tcp).</summary>
    public bool ProviderChoosesKeys => (MrMode & Fi.FI_MR_PROV_KEY) != 0;

    /// <summary>Providers that implement RMA in software and pin nothing (rdma-cs then locks registered memory itself).</summary>
    private static readonly HashSet<string> SoftwareProviders = ["tcp", "sockets", "udp", "shm"];

    /// <summary>
    /// True when registering memory pins it (verbs, efa: the NIC reads and writes it by DMA); false on software providers,
    /// whose registrations are only a table of ranges. A utility provider's core decides ("tcp;ofi_rxm": tcp).
    /// </summary>
    public bool RegistrationPins => !SoftwareProviders.Contains(Provider.Split(';')[0]);

    /// <summary>
    /// What one endpoint's queues pin on a NIC (0 on software providers), estimated, since no provider reports it: the
    /// send, receive and completion queues hold 64-byte entries as mlx5 lays them out (a write is one 64-byte basic block,
    /// a completion one 64-byte CQE), each queue rounded up to whole pages, plus a page of doorbell records. The kernel
    /// pins these buffers when the queues are created and charges them to <c>RLIMIT_MEMLOCK</c> like registrations.
    /// </summary>
    public long PinnedQueueBytes
    {
        get
        {
            if (!RegistrationPins)
            {
                return 0;
            }
            const long Entry = 64, Page = 4096;
            static long Pages(ulong entries) => ((long)entries * Entry + Page - 1) / Page * Page;
            ulong transmit = _list->tx_attr->size, receive = _list->rx_attr->size;
            return Pages(transmit) + Pages(receive) + Pages(Math.Max(transmit, 64)) + Page;
        }
    }

    /// <summary>True when writes complete only once the data is in the target's memory.</summary>
    public bool DeliveryComplete { get; private set; }

    /// <summary>
    /// Segments one write may carry: local ranges (iov_limit) that each go to a remote range of their own (rma_iov_limit),
    /// at most 16. 1 on verbs and efa (one remote range per write); 4 on the tcp provider.
    /// </summary>
    public int MaxWriteSegments => (int)Math.Clamp(Math.Min(_list->tx_attr->iov_limit, _list->tx_attr->rma_iov_limit), 1, 16);

    /// <summary>True when the endpoint keeps writes in order (FI_ORDER_WAW); see <see cref="FabricOrdering"/>.</summary>
    public bool OrdersWrites => FabricOrdering.Has(_list->tx_attr->msg_order, _list->rx_attr->msg_order, FabricOrdering.WriteAfterWrite);

    /// <summary>
    /// Finds a provider for RMA endpoints. <paramref name="provider"/> null or "auto" tries <see cref="AutomaticOrder"/>;
    /// otherwise only that provider. Connected endpoints first, then RDM, unless <paramref name="endpointType"/> names
    /// one (the source takes what the destination chose). <paramref name="passive"/> resolves
    /// <paramref name="node"/>:<paramref name="service"/> as the local address to listen on (connected endpoints) or to
    /// bind to (RDM, any port); an RDM source binds where the provider likes and names the destination by address.
    /// </summary>
    public static FabricInfo Find(string? provider, string? node, string? service, bool passive, fi_ep_type? endpointType = null)
    {
        FabricLibrary.EnsureLoaded();
        string[] candidates = provider is null or "auto" ? AutomaticOrder : [provider];
        fi_ep_type[] types = endpointType is { } only ? [only] : [fi_ep_type.FI_EP_MSG, fi_ep_type.FI_EP_RDM];
        var refusals = new List<string>();
        foreach (string candidate in candidates)
        {
            // Delivery-complete first: a write's completion then means the bytes are in the destination's memory.
            // Writes kept in order first: two writes to one page may then be in flight at once.
            int result = 0;
            foreach ((fi_ep_type type, bool delivery, ulong order) in
                     from type in types
                     from delivery in new[] { true, false }
                     from order in new[] { Fi.FI_ORDER_RAW | Fi.FI_ORDER_WAW, Fi.FI_ORDER_RAW }
                     select (type, delivery, order))
            {
                (string? typeNode, string? typeService) = type == fi_ep_type.FI_EP_MSG ? (node, service) : passive ? (node, null) : (null, null);
                result = TryGetInfo(candidate, type, typeNode, typeService, passive, delivery, order, out fi_info* list);
                if (result != 0 && type == fi_ep_type.FI_EP_RDM && typeNode is not null)
                {
                    // Providers that do not take host addresses (shm names its endpoints itself) bind by themselves.
                    result = TryGetInfo(candidate, type, null, null, passive: false, delivery, order, out list);
                }
                if (result != 0 || list == null)
                {
                    continue;
                }
                if (FabricOrdering.Refusal(list->tx_attr->msg_order, list->rx_attr->msg_order) is { } refusal)
                {
                    // Asked for, yet not granted: never rely on an ordering the provider does not state.
                    Fi.fi_freeinfo(list);
                    refusals.Add($"{candidate}: {refusal}");
                    goto nextCandidate;
                }
                // Providers may answer with op_flags cleared; the endpoint takes its default flags from here.
                if (delivery)
                {
                    list->tx_attr->op_flags |= Fi.FI_DELIVERY_COMPLETE;
                }
                string reason = provider is null or "auto"
                    ? $"automatic choice: {string.Join(", ", refusals.Append($"{candidate}: available"))}"
                    : "named on the command line";
                return new FabricInfo(list, reason) { DeliveryComplete = delivery };
            }
            refusals.Add($"{candidate}: {WhyUnavailable(candidate, node, service, passive, result)}");
        nextCandidate:;
        }
        throw new FabricException(
            $"no libfabric provider offers RMA endpoints for {node ?? "*"}:{service ?? "*"} ({string.Join("; ", refusals)})" +
            (provider is null or "auto" ? "" : "; try --provider auto"));
    }

    /// <summary>
    /// Why no endpoint was found: when the provider has connected RMA endpoints without the read-after-write ordering,
    /// that (with the orderings it does have); otherwise libfabric's answer.
    /// </summary>
    private static string WhyUnavailable(string provider, string? node, string? service, bool passive, int result)
    {
        if (TryGetInfo(provider, fi_ep_type.FI_EP_MSG, node, service, passive, deliveryComplete: false, Fi.FI_ORDER_NONE, out fi_info* list) == 0 && list != null)
        {
            string? refusal = FabricOrdering.Refusal(list->tx_attr->msg_order, list->rx_attr->msg_order);
            Fi.fi_freeinfo(list);
            if (refusal is not null)
            {
                return refusal;
            }
        }
        return FabricCall.Describe(result);
    }

    private static int TryGetInfo(string provider, fi_ep_type type, string? node, string? service, bool passive, bool deliveryComplete, ulong order,
        out fi_info* list)
    {
        list = null;
        fi_info* hints = Fi.fi_dupinfo(null);
        if (hints == null)
        {
            throw new OutOfMemoryException("fi_allocinfo failed");
        }
        nint nodeText = node is null ? 0 : Marshal.StringToCoTaskMemUTF8(node);
        nint serviceText = service is null ? 0 : Marshal.StringToCoTaskMemUTF8(service);
        try
        {
            // Reads too: a read after the writes, ordered behind them (FI_ORDER_RAW), is the fence that says
            // they have landed, whatever a provider means by a write's completion.
            hints->caps = Fi.FI_RMA | Fi.FI_WRITE | Fi.FI_REMOTE_WRITE | Fi.FI_READ | Fi.FI_REMOTE_READ;
            hints->tx_attr->msg_order = order;
            hints->rx_attr->msg_order = order;
            hints->mode = SupportedModes;
            hints->ep_attr->type = type;
            hints->domain_attr->mr_mode = SupportedMrMode;
            hints->domain_attr->threading = fi_threading.FI_THREAD_SAFE;
            hints->tx_attr->op_flags = deliveryComplete ? Fi.FI_DELIVERY_COMPLETE : 0;
            // fi_freeinfo frees prov_name with free(); CoTaskMem is malloc on Linux.
            hints->fabric_attr->prov_name = (sbyte*)Marshal.StringToCoTaskMemUTF8(provider);
            fi_info* found;
            int result = Fi.fi_getinfo(Fi.FI_VERSION(1, 17), (sbyte*)nodeText, (sbyte*)serviceText, passive ? Fi.FI_SOURCE : 0, hints, &found);
            if (result == 0)
            {
                list = found;
            }
            return result;
        }
        finally
        {
            Fi.fi_freeinfo(hints);
            Marshal.FreeCoTaskMem(nodeText);
            Marshal.FreeCoTaskMem(serviceText);
        }
    }

    public void Dispose()
    {
        if (_list != null)
        {
            Fi.fi_freeinfo(_list);
            _list = null;
        }
    }
}
