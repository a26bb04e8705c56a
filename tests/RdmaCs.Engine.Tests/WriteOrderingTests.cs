using RdmaCs.Bindings.LibFabric;
using RdmaCs.Configuration;
using RdmaCs.Fabric.LibFabric;
using RdmaCs.Fabric.Memory;
using RdmaCs.Tests.Infrastructure;

namespace RdmaCs.Tests;

/// <summary>
/// What the engine assumes of the order in which writes land: read-after-write is required (the fence), and without
/// write-after-write no two writes to one page are ever in flight.
/// </summary>
public sealed unsafe class WriteOrderingTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public void On_a_fabric_that_does_not_order_writes_no_two_writes_to_one_page_are_in_flight()
    {
        // A hot set rewritten faster than jittered completions come back: pages are designated again while their
        // write is in flight. The fabric records a violation for an overlapping write (its older data could land last).
        var options = new EngineOptions { BudgetBytes = 256 << 10, MaxBlockBytes = 16 << 10, MaxWritesInFlight = 16 };
        var fabric = new MemoryFabricOptions { CompletionJitter = TimeSpan.FromMilliseconds(1), Seed = 3, OrdersWrites = false };
        using var harness = new TransferHarness(options, [1 << 20], fabric);
        var random = new Random(9);
        for (int round = 1; round <= 200; round++)
        {
            for (int change = 0; change < 10; change++)
            {
                harness.Modify(0, random.NextInt64(32), version: round); // 32 hot pages: overlaps are certain
            }
            Thread.Sleep(1); // the worker posts them, and their completions are still on their way at the next round
            if (round % 20 == 0)
            {
                harness.Engine.Flush(round, Timeout);
                harness.AssertDestinationEqualsSource();
            }
        }

        harness.AssertFabricClean();
        harness.DisposeEngineAndAssertNothingPinned();
    }

    [Theory]
    [InlineData(Fi.FI_ORDER_SAS, Fi.FI_ORDER_SAS, false)]                        // what shm states for its transmit side in fi_info
    [InlineData(Fi.FI_ORDER_RAW, Fi.FI_ORDER_SAS, false)]                        // both ends must state it
    [InlineData(Fi.FI_ORDER_WAW | Fi.FI_ORDER_RAR, Fi.FI_ORDER_WAW | Fi.FI_ORDER_RAR, false)]
    [InlineData(Fi.FI_ORDER_RAW, Fi.FI_ORDER_RAW, true)]
    [InlineData(Fi.FI_ORDER_RMA_RAW, Fi.FI_ORDER_RMA_RAW, true)]                  // the RMA-only spelling counts too
    public void A_provider_is_refused_unless_both_ends_order_reads_after_writes(ulong transmit, ulong receive, bool accepted)
    {
        string? refusal = FabricOrdering.Refusal(transmit, receive);
        Assert.Equal(accepted, refusal is null);
        if (!accepted)
        {
            Assert.Contains("FI_ORDER_RAW", refusal);
            Assert.Contains("fence", refusal);
        }
    }

    [Fact]
    public void Tcp_connected_endpoints_order_reads_and_writes_after_writes()
    {
        using FabricInfo tcp = FabricInfo.Find("tcp", "127.0.0.1", "0", passive: true);
        Assert.Null(FabricOrdering.Refusal(tcp.Info->tx_attr->msg_order, tcp.Info->rx_attr->msg_order));
        Assert.True(tcp.OrdersWrites);
    }
}
