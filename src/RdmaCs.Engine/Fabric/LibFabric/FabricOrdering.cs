using RdmaCs.Bindings.LibFabric;

namespace RdmaCs.Fabric.LibFabric;

/// <summary>
/// The message ordering rdma-cs relies on, read from a provider's <c>msg_order</c> attributes (libfabric 1.17 names
/// each rule twice: FI_ORDER_RAW and, for RMA alone, FI_ORDER_RMA_RAW; either will do).
/// </summary>
/// <remarks>
/// Read-after-write is required: the fence reads a few bytes back behind the writes, and only an ordered read proves
/// that they have landed. Write-after-write is optional: without it the engine never has two writes to the same page
/// in flight (the older one could land last).
/// </remarks>
public static class FabricOrdering
{
    public const ulong ReadAfterWrite = Fi.FI_ORDER_RAW | Fi.FI_ORDER_RMA_RAW;
    public const ulong WriteAfterWrite = Fi.FI_ORDER_WAW | Fi.FI_ORDER_RMA_WAW;

    /// <summary>Whether both the initiator's and the target's ordering include one of <paramref name="rule"/>'s bits.</summary>
    public static bool Has(ulong transmitOrder, ulong receiveOrder, ulong rule) => (transmitOrder & rule) != 0 && (receiveOrder & rule) != 0;

    /// <summary>Why a provider with these orderings cannot carry rdma-cs, or null when it can.</summary>
    public static string? Refusal(ulong transmitOrder, ulong receiveOrder) =>
        Has(transmitOrder, receiveOrder, ReadAfterWrite)
            ? null
            : $"does not order a read after earlier writes (FI_ORDER_RAW; msg_order tx 0x{transmitOrder:x}, rx 0x{receiveOrder:x}), " +
              "so rdma-cs's fence could not prove that the writes before it have landed";
}
