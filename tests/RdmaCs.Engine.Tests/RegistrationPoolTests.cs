using RdmaCs.Configuration;
using RdmaCs.Fabric.Memory;
using RdmaCs.Tests.Infrastructure;

namespace RdmaCs.Tests;

/// <summary>
/// Registering threads (EngineOptions.RegistrationThreads above 1): they register the next chunks ahead of the worker and
/// deregister for it, while the fabric checks that registrations never overlap, never exceed the budget, and that nothing
/// is written from a registration that is not there; the destination must end equal to the source.
/// </summary>
public class RegistrationPoolTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(2, 1)]
    [InlineData(4, 2)]
    [InlineData(3, 3)]
    public void Registering_threads_keep_the_budget_and_the_memory_arrives_equal(int threads, int seed)
    {
        var options = new EngineOptions { BudgetBytes = 2 << 20, MaxBlockBytes = 128 << 10, RegistrationThreads = threads };
        var fabric = new MemoryFabricOptions
        {
            RegistrationLimitBytes = options.BudgetBytes, CompletionDelay = TimeSpan.FromMilliseconds(1),
            CompletionJitter = TimeSpan.FromMilliseconds(1), Seed = seed,
        };
        using var harness = new TransferHarness(options, [16 << 20, 4 << 20], fabric);
        harness.FillAll(version: 1);
        harness.DesignateTogether(engine =>
        {
            engine.DesignateRange(0, 0, 16 << 20);
            engine.DesignateRange(1, 0, 4 << 20);
        });
        harness.Engine.Flush(1, Timeout);

        // Rounds of scattered changes, some while the engine is writing the ones before.
        var random = new Random(seed);
        for (int round = 2; round < 6; round++)
        {
            for (int i = 0; i < 300; i++)
            {
                int block = random.Next(2);
                harness.Modify(block, random.NextInt64(harness.PageCount(block)), version: round);
            }
            harness.Engine.Flush(round, Timeout);
        }

        harness.AssertDestinationEqualsSource();
        harness.AssertFabricClean();
        Assert.True(harness.Engine.Statistics.CacheHits > 0, "no write found a registration made ahead of it");
        harness.DisposeEngineAndAssertNothingPinned();
    }

    [Fact]
    public void Without_a_pool_the_worker_registers_alone_as_before()
    {
        var options = new EngineOptions { BudgetBytes = 1 << 20, MaxBlockBytes = 128 << 10, RegistrationThreads = 1 };
        using var harness = new TransferHarness(options, [4 << 20], new MemoryFabricOptions { RegistrationLimitBytes = 1 << 20 });
        harness.FillAll(version: 1);
        harness.DesignateTogether(engine => engine.DesignateRange(0, 0, 4 << 20));
        harness.Engine.Flush(1, Timeout);

        harness.AssertDestinationEqualsSource();
        harness.AssertFabricClean();
        Assert.Equal(0, harness.Engine.Statistics.CacheHits); // one pass: nothing registered ahead, nothing to hit
        harness.DisposeEngineAndAssertNothingPinned();
    }

    [Theory]
    [InlineData(25e9, 1)]
    [InlineData(100e9, 2)]
    [InlineData(200e9, 3)]
    [InlineData(400e9, 6)]
    public void The_model_gives_a_link_the_threads_that_turn_its_rate_over_at_the_published_costs(double linkBitsPerSecond, int threads) =>
        Assert.Equal(threads, RegistrationModel.ThreadsFor(linkBitsPerSecond));
}
