using RdmaCs.Configuration;
using RdmaCs.Tests.Infrastructure;

namespace RdmaCs.Tests;

public class EngineSmokeTests
{
    [Fact]
    public void Every_page_designated_once_arrives_by_flush()
    {
        var options = new EngineOptions { BudgetBytes = 64 << 10, MaxBlockBytes = 16 << 10 };
        using var harness = new TransferHarness(options, [1 << 20, 256 << 10]);
        for (int block = 0; block < harness.BlockCount; block++)
        {
            for (long page = 0; page < harness.PageCount(block); page++)
            {
                harness.Modify(block, page, version: 1);
            }
        }
        harness.Engine.Flush(1, TimeSpan.FromSeconds(30));
        harness.AssertDestinationEqualsSource();
        harness.AssertFabricClean();
        harness.DisposeEngineAndAssertNothingPinned();
    }
}
