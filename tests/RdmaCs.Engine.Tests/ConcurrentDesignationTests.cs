using RdmaCs.Configuration;
using RdmaCs.Tests.Infrastructure;

namespace RdmaCs.Tests;

public class ConcurrentDesignationTests
{
    [Fact]
    public void Pages_designated_from_several_threads_while_the_worker_selects_all_arrive()
    {
        var options = new EngineOptions { BudgetBytes = 256 << 10, MaxBlockBytes = 64 << 10, MaxWritesInFlight = 8 };
        using var harness = new TransferHarness(options, [8 << 20, 2 << 20]);
        const int Threads = 4;
        const int RoundsPerThread = 5;
        using var start = new Barrier(Threads);

        Thread[] designators = [.. Enumerable.Range(0, Threads).Select(thread => new Thread(() =>
        {
            var random = new Random(thread);
            start.SignalAndWait();
            for (int round = 1; round <= RoundsPerThread; round++)
            {
                for (int i = 0; i < 20_000; i++)
                {
                    int block = random.Next(harness.BlockCount);
                    long page = random.NextInt64(harness.PageCount(block));
                    // Several threads may fill the same page at once: its final bytes are whatever they are,
                    // but they are in the source before the last designation, so they must arrive.
                    harness.Modify(block, page, version: round * Threads + thread);
                }
            }
        }))];
        foreach (Thread designator in designators)
        {
            designator.Start();
        }

        // Flushes run concurrently with the designators: each must finish even while designation goes on.
        long sequence = 0;
        while (designators.Any(designator => designator.IsAlive))
        {
            harness.Engine.Flush(++sequence, TimeSpan.FromSeconds(60));
        }
        foreach (Thread designator in designators)
        {
            designator.Join();
        }
        harness.Engine.Flush(++sequence, TimeSpan.FromSeconds(60));

        harness.AssertDestinationEqualsSource();
        harness.AssertFabricClean();
        Assert.True(sequence > 1, "no flush overlapped with designation; the test proved nothing about concurrency");
        harness.DisposeEngineAndAssertNothingPinned();
    }
}
