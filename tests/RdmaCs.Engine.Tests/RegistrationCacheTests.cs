using RdmaCs.Configuration;
using RdmaCs.Fabric.Memory;
using RdmaCs.Tests.Infrastructure;

namespace RdmaCs.Tests;

public class RegistrationCacheTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private const int PageSize = 4096;

    [Fact]
    public void A_page_designated_inside_a_cached_registration_is_written_without_a_new_registration()
    {
        var options = new EngineOptions { BudgetBytes = 64 << 10, MaxBlockBytes = 16 << 10 };
        using var harness = new TransferHarness(options, [1 << 20]);
        for (long page = 0; page < 4; page++)
        {
            harness.Modify(0, page, version: 1);
        }
        harness.Engine.Flush(1, Timeout);
        long registrations = harness.Engine.Statistics.Registrations;
        long hits = harness.Engine.Statistics.CacheHits;

        harness.Modify(0, 2, version: 2);
        harness.Engine.Flush(2, Timeout);

        Assert.Equal(registrations, harness.Engine.Statistics.Registrations);
        Assert.Equal(hits + 1, harness.Engine.Statistics.CacheHits);
        harness.AssertDestinationEqualsSource();
        harness.DisposeEngineAndAssertNothingPinned();
    }

    [Fact]
    public void When_the_budget_is_full_the_least_recently_used_idle_registration_is_evicted()
    {
        // One page per registration and room for two: A and B cached, A used again, then C needs room.
        var options = new EngineOptions { BudgetBytes = 2 * 4096, MaxBlockBytes = 4096 };
        using var harness = new TransferHarness(options, [64 << 10]);
        void Write(long page, int version)
        {
            harness.Modify(0, page, version);
            harness.Engine.Flush(version, Timeout);
        }

        Write(0, 1);  // A
        Write(1, 2);  // B
        Write(0, 3);  // A again: a hit, and now B is the least recently used
        Assert.Equal(2, harness.Engine.Statistics.Registrations);
        Assert.Equal(1, harness.Engine.Statistics.CacheHits);

        Write(2, 4);  // C: evicts B
        Assert.Equal(1, harness.Engine.Statistics.Evictions);
        Write(0, 5);  // A survived
        Assert.Equal(3, harness.Engine.Statistics.Registrations);
        Assert.Equal(2, harness.Engine.Statistics.CacheHits);
        Write(1, 6);  // B did not
        Assert.Equal(4, harness.Engine.Statistics.Registrations);

        Assert.Equal(2 * 4096, harness.Engine.Statistics.PinnedBytes);
        harness.AssertDestinationEqualsSource();
        harness.AssertFabricClean();
        harness.DisposeEngineAndAssertNothingPinned();
    }

    [Fact]
    public void A_lone_dirty_page_is_registered_with_the_free_rest_of_its_chunk_so_its_neighbours_hit_the_cache()
    {
        // No bridging of gaps, one segment per write: pages 4 and 7 below are two writes, each a cache hit.
        var options = new EngineOptions { BudgetBytes = 64 << 10, MaxBlockBytes = 16 << 10, MaxGapPages = 0 };
        using var harness = new TransferHarness(options, [1 << 20], new MemoryFabricOptions { MaxWriteSegments = 1 });
        harness.Modify(0, 5, version: 1);
        harness.Engine.Flush(1, Timeout);
        Assert.Equal(16 << 10, harness.Fabric.RegisteredBytes); // pages 4-7: the whole chunk
        Assert.Equal(1, harness.Engine.Statistics.Registrations);

        harness.Modify(0, 4, version: 2);
        harness.Modify(0, 7, version: 2);
        harness.Engine.Flush(2, Timeout);
        Assert.Equal(1, harness.Engine.Statistics.Registrations);
        Assert.Equal(2, harness.Engine.Statistics.CacheHits);
        harness.AssertDestinationEqualsSource();
        harness.AssertFabricClean();
        harness.DisposeEngineAndAssertNothingPinned();
    }

    [Fact]
    public void Scattered_dirty_pages_of_a_chunk_go_in_one_write_across_short_gaps()
    {
        // A guest writing at random leaves dirty pages a few clean pages apart: one write carries them all, clean pages
        // between included (their current content is what the destination must hold anyway). A gap longer than
        // MaxGapPages is not bridged. (A fabric of one segment per write: gathering runs into one write is tested below.)
        var options = new EngineOptions { BudgetBytes = 256 << 10, MaxBlockBytes = 64 << 10, MaxGapPages = 3 };
        using var harness = new TransferHarness(options, [1 << 20], new MemoryFabricOptions { MaxWriteSegments = 1 });
        harness.FillAll(1);
        harness.Engine.DesignateRange(0, 0, 1 << 20);
        harness.Engine.Flush(1, Timeout);
        long writesBefore = harness.Engine.Statistics.BlocksWritten;
        for (long page = 0; page < 16; page++)
        {
            harness.SourcePage(0, page)[0] ^= 0xff; // every page changes; only some are handed over yet
        }
        harness.DesignateTogether(engine =>
        {
            foreach (long page in new long[] { 0, 2, 5, 9 }) // gaps of 1, 2 and 3 pages
            {
                engine.DesignatePage(0, page);
            }
            engine.DesignatePage(0, 14); // a gap of 4: its own write
        });

        harness.Engine.Flush(2, Timeout);

        Assert.Equal(2, harness.Engine.Statistics.BlocksWritten - writesBefore);
        for (long page = 0; page <= 9; page++)
        {
            Assert.True(harness.SourcePage(0, page).SequenceEqual(harness.DestinationPage(0, page)), $"page {page} was not carried");
        }
        Assert.False(harness.SourcePage(0, 11).SequenceEqual(harness.DestinationPage(0, 11)), "page 11 lies past the bridged gaps");
        foreach (long page in new long[] { 10, 11, 12, 13, 15 })
        {
            harness.Engine.DesignatePage(0, page); // QEMU hands the rest over later
        }
        harness.Engine.Flush(3, Timeout);
        harness.AssertDestinationEqualsSource();
        harness.AssertFabricClean();
        harness.DisposeEngineAndAssertNothingPinned();
    }

    [Fact]
    public void What_the_fabric_pins_for_itself_comes_out_of_the_budget()
    {
        // A NIC's fabric pins its fence buffer's page for as long as it lives: the engine registers at most the rest, and
        // the pinned figure counts that page.
        var options = new EngineOptions { BudgetBytes = 64 << 10, MaxBlockBytes = 16 << 10, RegistrationCache = false };
        using var harness = new TransferHarness(options, [1 << 20], new MemoryFabricOptions
        {
            PinnedForItselfBytes = PageSize, RegistrationLimitBytes = (64 << 10) - PageSize,
        });
        harness.FillAll(1);
        harness.Engine.DesignateRange(0, 0, 1 << 20);
        harness.Engine.Flush(1, Timeout);

        harness.AssertDestinationEqualsSource();
        Assert.Empty(harness.Fabric.Violations); // never registered past the budget less the fabric's page
        Assert.InRange(harness.Fabric.PeakRegisteredBytes, 1, (64 << 10) - PageSize);
        Assert.InRange(harness.Engine.Statistics.PeakPinnedBytes, 2 * PageSize, 64 << 10); // the page and a registration at least
        Assert.Equal(PageSize, harness.Engine.Statistics.PinnedBytes); // the fabric's page: no registration is left
    }

    [Fact]
    public void A_budget_that_leaves_no_page_beside_what_the_fabric_pins_is_refused_up_front()
    {
        var options = new EngineOptions { BudgetBytes = PageSize, MaxBlockBytes = PageSize };
        var error = Assert.Throws<ArgumentException>(() =>
            new TransferHarness(options, [1 << 20], new MemoryFabricOptions { PinnedForItselfBytes = PageSize }));
        Assert.Contains("pins for itself", error.Message);
    }

    [Theory]
    [InlineData(1, 16)]
    [InlineData(4, 4)]
    [InlineData(16, 1)]
    public void Isolated_dirty_pages_of_a_registration_share_a_write_up_to_the_fabrics_segment_limit(int segments, int writes)
    {
        // One dirty page in eight across a chunk: too far apart to bridge, so each is a segment of its own; a fabric that
        // takes several segments per write (the tcp provider: 4) carries that many pages per write, the rest unchanged.
        var options = new EngineOptions { BudgetBytes = 1 << 20, MaxBlockBytes = 512 << 10, MaxGapPages = 4 };
        using var harness = new TransferHarness(options, [1 << 20], new MemoryFabricOptions { MaxWriteSegments = segments });
        harness.FillAll(1);
        harness.Engine.DesignateRange(0, 0, 1 << 20);
        harness.Engine.Flush(1, Timeout);
        long writesBefore = harness.Engine.Statistics.BlocksWritten;
        long bytesBefore = harness.Engine.Statistics.BytesWritten;

        harness.DesignateTogether(engine =>
        {
            for (long page = 0; page < 128; page += 8)
            {
                harness.Modify(0, page, 2);
                engine.DesignatePage(0, page);
            }
        });
        harness.Engine.Flush(2, Timeout);

        Assert.Equal(writes, harness.Engine.Statistics.BlocksWritten - writesBefore);
        Assert.Equal(16L * PageSize, harness.Engine.Statistics.BytesWritten - bytesBefore); // the clean pages between stay home
        harness.AssertDestinationEqualsSource();
        harness.AssertFabricClean();
        harness.DisposeEngineAndAssertNothingPinned();
    }

    [Fact]
    public void Scattered_writes_land_right_on_a_fabric_that_reorders_them()
    {
        // Completions out of order and writes that must not overlap (no FI_ORDER_WAW): pages dirtied again while the
        // write carrying them is in flight wait for it, and every page ends as the source holds it.
        var options = new EngineOptions { BudgetBytes = 256 << 10, MaxBlockBytes = 64 << 10, MaxGapPages = 2 };
        var fabric = new MemoryFabricOptions
        {
            MaxWriteSegments = 4, OrdersWrites = false, CompletionJitter = TimeSpan.FromMilliseconds(2), Seed = 7,
        };
        using var harness = new TransferHarness(options, [2 << 20], fabric);
        harness.FillAll(1);
        harness.Engine.DesignateRange(0, 0, 2 << 20);
        harness.Engine.Flush(1, Timeout);
        var random = new Random(11);
        long pages = harness.PageCount(0);
        for (int round = 0; round < 2000; round++)
        {
            long page = random.NextInt64(pages);
            harness.Modify(0, page, round + 2);
            harness.Engine.DesignatePage(0, page);
        }
        harness.Engine.Flush(2, Timeout);

        harness.AssertDestinationEqualsSource();
        harness.AssertFabricClean();
        harness.DisposeEngineAndAssertNothingPinned();
    }

    [Fact]
    public void Without_the_cache_nothing_stays_registered_after_a_flush()
    {
        var options = new EngineOptions { BudgetBytes = 64 << 10, MaxBlockBytes = 16 << 10, RegistrationCache = false };
        using var harness = new TransferHarness(options, [1 << 20]);
        harness.Engine.DesignateRange(0, 0, 1 << 20);
        harness.Engine.Flush(1, Timeout);
        Assert.Equal(0, harness.Engine.Statistics.PinnedBytes);
        Assert.Equal(0, harness.Fabric.ActiveRegistrations);
        Assert.Equal(harness.Engine.Statistics.Registrations, harness.Engine.Statistics.Deregistrations);
        harness.DisposeEngineAndAssertNothingPinned();
    }

    [Fact]
    public void A_block_is_shrunk_to_what_the_budget_has_left_while_writes_are_in_flight()
    {
        // Budget 6 pages, blocks of 4: the first block takes 4 pages and stays in flight, so the second
        // is registered as the 2 pages that fit, and the last 2 wait for budget.
        var options = new EngineOptions { BudgetBytes = 6 * 4096, MaxBlockBytes = 4 * 4096 };
        var slow = new MemoryFabricOptions { CompletionDelay = TimeSpan.FromMilliseconds(200) };
        using var harness = new TransferHarness(options, [64 << 10], slow);
        for (long page = 0; page < 8; page++)
        {
            PagePattern.Fill(harness.SourcePage(0, page), 0, page, 1);
        }
        harness.Engine.DesignateRange(0, 0, 8 * 4096);
        harness.Engine.Flush(1, Timeout);

        Assert.Equal(6 * 4096, harness.Fabric.PeakRegisteredBytes);
        Assert.Equal(3, harness.Engine.Statistics.Registrations);
        Assert.True(harness.Engine.Statistics.BudgetWait > TimeSpan.Zero, "the last pages should have waited for budget");
        harness.AssertDestinationEqualsSource();
        harness.AssertFabricClean();
        harness.DisposeEngineAndAssertNothingPinned();
    }
}
