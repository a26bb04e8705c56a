using CsCheck;
using RdmaCs.Configuration;
using RdmaCs.Fabric.Memory;
using RdmaCs.Tests.Infrastructure;

namespace RdmaCs.Tests;

/// <summary>
/// Random designation streams, budgets, block sizes, queue depths, and completion orders and delays. For
/// each: every designated page arrives with its latest content by flush, the fabric never holds more
/// registered bytes than the budget (it refuses the registration that would), no write leaves its RAM
/// block or its registration (the fabric refuses those too), and nothing is registered or locked after dispose.
/// </summary>
public class BudgetedTransferPropertyTests
{
    private const int PageSize = 4096;

    public sealed record Scenario(
        int[] BlockPages, int BudgetPages, int MaxBlockPages, int WritesInFlight, bool Cache,
        int MaxDelayMicroseconds, int Seed, int[][] Rounds)
    {
        public override string ToString() =>
            $"blocks [{string.Join(",", BlockPages)}] pages, budget {BudgetPages} pages, max block {MaxBlockPages} pages, " +
            $"in flight {WritesInFlight}, cache {Cache}, delay ≤ {MaxDelayMicroseconds} µs, seed {Seed}, " +
            $"rounds [{string.Join(" | ", Rounds.Select(r => string.Join(",", r)))}]";
    }

    private static readonly Gen<Scenario> Scenarios =
        from blockPages in Gen.Int[1, 80].Array[1, 3]
        from maxBlockPages in Gen.Int[1, 16]
        from budgetPages in Gen.Int[maxBlockPages, 40]
        from writesInFlight in Gen.Int[1, 8]
        from cache in Gen.Bool
        from delay in Gen.OneOf(Gen.Const(0), Gen.Int[1, 400])
        from seed in Gen.Int
        from rounds in Gen.Int[0, int.MaxValue].Array[0, 150].Array[1, 4]
        select new Scenario(blockPages, budgetPages, maxBlockPages, writesInFlight, cache, delay, seed, rounds);

    [Fact]
    public void Designated_pages_arrive_with_their_latest_content_and_the_budget_holds()
    {
        Scenarios.Sample(Run, iter: 300, threads: 1);
    }

    private static void Run(Scenario scenario)
    {
        var options = new EngineOptions
        {
            PageSize = PageSize,
            BudgetBytes = (long)scenario.BudgetPages * PageSize,
            MaxBlockBytes = (long)scenario.MaxBlockPages * PageSize,
            MaxWritesInFlight = scenario.WritesInFlight,
            RegistrationCache = scenario.Cache,
        };
        var fabricOptions = new MemoryFabricOptions
        {
            CompletionJitter = TimeSpan.FromMicroseconds(scenario.MaxDelayMicroseconds),
            Seed = scenario.Seed,
        };
        using var harness = new TransferHarness(options, [.. scenario.BlockPages.Select(p => (long)p * PageSize)], fabricOptions);
        long totalPages = scenario.BlockPages.Sum(p => (long)p);

        for (int round = 0; round < scenario.Rounds.Length; round++)
        {
            foreach (int pick in scenario.Rounds[round])
            {
                (int block, long page) = Locate(scenario.BlockPages, pick % totalPages);
                // A page in five is cleared: it goes as a zero range, over whatever the destination holds.
                if (pick / (int)totalPages % 5 == 0)
                {
                    harness.Clear(block, page);
                }
                else
                {
                    harness.Modify(block, page, version: round + 1);
                }
            }
            harness.Engine.Flush(round, TimeSpan.FromSeconds(60));
            harness.AssertDestinationEqualsSource();
            Assert.Equal(0, harness.Engine.Statistics.WritesInFlight);
        }

        harness.AssertFabricClean();
        harness.DisposeEngineAndAssertNothingPinned();
    }

    private static (int Block, long Page) Locate(int[] blockPages, long index)
    {
        for (int block = 0; ; block++)
        {
            if (index < blockPages[block])
            {
                return (block, index);
            }
            index -= blockPages[block];
        }
    }
}
