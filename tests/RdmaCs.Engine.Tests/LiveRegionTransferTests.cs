using RdmaCs.Configuration;
using RdmaCs.Memory;
using RdmaCs.Tests.Infrastructure;

namespace RdmaCs.Tests;

public class LiveRegionTransferTests
{
    /// <summary>
    /// Pre-copy in miniature: designate everything, then rounds of flush while a writer keeps rewriting whole
    /// pages and designating them; stop the writer, flush once more, and the two 256 MiB regions are equal.
    /// VmLck, sampled from the kernel throughout, never exceeds the budget.
    /// </summary>
    [Fact]
    public void A_region_rewritten_during_rounds_is_equal_after_the_final_flush_and_locked_memory_stays_in_budget()
    {
        const long RegionBytes = 256L << 20;
        var options = new EngineOptions { BudgetBytes = 8 << 20, MaxBlockBytes = 1 << 20 };
        using var harness = new TransferHarness(options, [RegionBytes]);
        long pages = harness.PageCount(0);
        using var stop = new CancellationTokenSource();
        long rewrites = 0;
        using var writing = new ManualResetEventSlim();
        var writer = new Thread(() =>
        {
            var random = new Random(42);
            int generation = 1;
            while (!stop.IsCancellationRequested)
            {
                // Mostly a hot working set, sometimes anywhere: like a guest.
                long page = random.Next(4) == 0 ? random.NextInt64(pages) : random.NextInt64(pages / 16);
                harness.Modify(0, page, ++generation);
                if (Interlocked.Increment(ref rewrites) == 1000)
                {
                    writing.Set();
                }
            }
        });

        for (long page = 0; page < pages; page++)
        {
            harness.Modify(0, page, version: 0);
        }
        var sampler = new LockedMemorySampler(interval: TimeSpan.FromMilliseconds(1));
        writer.Start();
        writing.Wait();
        for (int round = 1; round <= 6; round++)
        {
            harness.Engine.Flush(round, TimeSpan.FromSeconds(120));
        }
        stop.Cancel();
        writer.Join();
        harness.Engine.Flush(7, TimeSpan.FromSeconds(120));
        sampler.Dispose();

        harness.AssertDestinationEqualsSource();
        harness.AssertFabricClean();
        Assert.True(Volatile.Read(ref rewrites) > 1000, "the writer stopped before the rounds");
        Assert.True(sampler.Samples.Count > 10, "VmLck was hardly sampled");
        Assert.InRange(sampler.PeakBytes, 0, options.BudgetBytes);
        Assert.True(harness.Engine.Statistics.BytesWritten > RegionBytes, "rewritten pages should have been sent again");
        harness.DisposeEngineAndAssertNothingPinned();
    }
}
