using RdmaCs.Configuration;
using RdmaCs.Fabric;
using RdmaCs.Fabric.Memory;
using RdmaCs.Memory;
using RdmaCs.Tests.Infrastructure;
using RdmaCs.Transfer;

namespace RdmaCs.Tests;

public class FailureTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void A_failed_write_fails_the_flush_with_the_fabric_reason_and_unpins_everything()
    {
        var options = new EngineOptions { BudgetBytes = 256 << 10, MaxBlockBytes = 16 << 10 };
        using var harness = new TransferHarness(options, [4 << 20], new MemoryFabricOptions { FailingWrite = 3 });
        harness.FillAll(1); // data, so that there are writes to fail (zero pages would go as a few long zero ranges)
        harness.Engine.DesignateRange(0, 0, 4 << 20);

        var error = Assert.Throws<EngineFailedException>(() => harness.Engine.Flush(1, Timeout));
        Assert.Contains("injected write failure", error.Message);
        Assert.Contains("RAM block 'ram0'", error.Message);
        Assert.IsType<FabricException>(error.InnerException);
        Assert.NotNull(harness.Engine.Statistics.Failure);

        // A failed engine refuses later flushes at once, with the same reason.
        var again = Assert.Throws<EngineFailedException>(() => harness.Engine.Flush(2, Timeout));
        Assert.Contains("injected write failure", again.Message);
        // Logged with its reason, as a warning: whoever waits on the engine reports the failure (the host takes its first
        // error line as the migration's error, and the session may know the root cause better).
        Assert.Contains(harness.Log, line => line.StartsWith("Warning: engine: failed:", StringComparison.Ordinal) &&
                                             line.Contains("injected write failure", StringComparison.Ordinal));
        harness.DisposeEngineAndAssertNothingPinned();
    }

    [Fact]
    public void A_failed_engine_releases_its_registrations_without_waiting_for_dispose()
    {
        var options = new EngineOptions { BudgetBytes = 256 << 10, MaxBlockBytes = 16 << 10 };
        using var harness = new TransferHarness(options, [4 << 20], new MemoryFabricOptions { FailingWrite = 5 });
        harness.FillAll(1);
        harness.Engine.DesignateRange(0, 0, 4 << 20);
        Assert.Throws<EngineFailedException>(() => harness.Engine.Flush(1, Timeout));

        SpinWait.SpinUntil(() => harness.Fabric.ActiveRegistrations == 0, Timeout);
        Assert.Equal(0, harness.Fabric.ActiveRegistrations);
        Assert.Equal(0, ProcessMemoryStatus.ReadLockedBytes());
    }

    [Fact]
    public void A_registration_the_fabric_refuses_fails_the_engine_with_the_fabric_reason()
    {
        var options = new EngineOptions { BudgetBytes = 64 << 10, MaxBlockBytes = 16 << 10 };
        // The fabric allows less than the budget: its refusal must surface, not hang or crash.
        using var harness = new TransferHarness(options, [1 << 20], new MemoryFabricOptions { RegistrationLimitBytes = 8 << 10 });
        harness.FillAll(1); // data: all-zero pages would go as zero ranges, without registering
        harness.Engine.DesignateRange(0, 0, 1 << 20);
        var error = Assert.Throws<EngineFailedException>(() => harness.Engine.Flush(1, Timeout));
        Assert.Contains("above the limit", error.Message);
        harness.DisposeEngineAndAssertNothingPinned();
    }

    [Fact]
    public void A_flush_that_cannot_finish_in_time_says_what_is_outstanding()
    {
        var options = new EngineOptions { BudgetBytes = 64 << 10, MaxBlockBytes = 16 << 10 };
        var slow = new MemoryFabricOptions { CompletionDelay = TimeSpan.FromSeconds(1) };
        using var harness = new TransferHarness(options, [64 << 10], slow);
        harness.Engine.DesignateRange(0, 0, 64 << 10);
        var error = Assert.Throws<TimeoutException>(() => harness.Engine.Flush(1, TimeSpan.FromMilliseconds(50)));
        Assert.Contains("in flight", error.Message);
        harness.Engine.Flush(2, Timeout);
        harness.AssertDestinationEqualsSource();
        harness.DisposeEngineAndAssertNothingPinned();
    }

    [Fact]
    public void A_flush_pending_at_dispose_fails_instead_of_hanging()
    {
        var options = new EngineOptions { BudgetBytes = 64 << 10, MaxBlockBytes = 16 << 10 };
        var slow = new MemoryFabricOptions { CompletionDelay = TimeSpan.FromMilliseconds(300) };
        using var harness = new TransferHarness(options, [1 << 20], slow);
        harness.Engine.DesignateRange(0, 0, 1 << 20);
        Task flush = harness.Engine.FlushAsync(1);
        harness.DisposeEngineAndAssertNothingPinned();
        Assert.Throws<AggregateException>(() => flush.Wait(Timeout));
        Assert.IsType<ObjectDisposedException>(flush.Exception!.InnerException);
        Assert.Throws<ObjectDisposedException>(() => { _ = harness.Engine.FlushAsync(2); });
    }

    [Fact]
    public void Designating_outside_the_RAM_blocks_is_refused_with_the_block_size()
    {
        var options = new EngineOptions { BudgetBytes = 64 << 10, MaxBlockBytes = 16 << 10 };
        using var harness = new TransferHarness(options, [1 << 20]);
        var page = Assert.Throws<ArgumentOutOfRangeException>(() => harness.Engine.Designate(0, 1 << 20));
        Assert.Contains("has 256 page(s)", page.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => harness.Engine.Designate(0, -1));
        var block = Assert.Throws<ArgumentOutOfRangeException>(() => harness.Engine.Designate(1, 0));
        Assert.Contains("1 RAM block(s)", block.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => harness.Engine.DesignateRange(0, (1 << 20) - 4096, 8192));
    }

    [Theory]
    [InlineData(4096, 4096 * 3 + 1, "not a positive whole number")]
    [InlineData(4097, 4096, "not aligned")]
    public void A_RAM_block_that_is_not_whole_aligned_pages_is_refused(long addressOffset, long length, string reason)
    {
        using var buffer = new AlignedBuffer(1 << 20);
        using var fabric = new MemoryFabric([new RamBlock("dst", buffer.Address, buffer.Length)]);
        var error = Assert.Throws<EngineConfigurationException>(() =>
            new TransferEngine(new EngineOptions(), fabric, [new RamBlock("pc.ram", buffer.Address + (nint)addressOffset, length)]));
        Assert.Contains(reason, error.Message);
        Assert.Contains("pc.ram", error.Message);
    }

    [Fact]
    public void RAM_blocks_with_the_same_name_are_refused()
    {
        using var buffer = new AlignedBuffer(1 << 20);
        using var fabric = new MemoryFabric([new RamBlock("dst", buffer.Address, buffer.Length)]);
        var error = Assert.Throws<EngineConfigurationException>(() => new TransferEngine(new EngineOptions(), fabric,
            [new RamBlock("pc.ram", buffer.Address, 4096), new RamBlock("pc.ram", buffer.Address + 4096, 4096)]));
        Assert.Contains("not unique", error.Message);
    }
}
