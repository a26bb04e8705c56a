using RdmaCs.Configuration;
using RdmaCs.Fabric.Memory;
using RdmaCs.Tests.Infrastructure;

namespace RdmaCs.Tests;

/// <summary>
/// All-zero pages go as zero ranges when it pays (never touched, or many in a row): nothing registered or written for
/// them, the destination clears them over whatever it held. A few zero pages between data go with the data. Neither a
/// zero range nor a write overtakes the other on the same page.
/// </summary>
public sealed class ZeroPageTests
{
    private const int PageSize = 4096;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public void Zero_pages_go_as_ranges_and_clear_what_the_destination_held()
    {
        var options = new EngineOptions { BudgetBytes = 256 << 10, MaxBlockBytes = 64 << 10 };
        using var harness = new TransferHarness(options, [4 << 20]);
        long pages = harness.PageCount(0);
        long dataPages = 0;
        for (long page = 0; page < pages; page++)
        {
            harness.DestinationPage(0, page).Fill(0xee); // stale data the zero ranges must clear
            // Between data pages, and after the last, at least enough zero pages for a range.
            int stride = options.MinZeroRangePages + 1;
            if (page % stride == 0 && page + stride <= pages)
            {
                PagePattern.Fill(harness.SourcePage(0, page), 0, page, 1);
                dataPages++;
            }
            else
            {
                harness.SourcePage(0, page).Clear();
            }
        }
        // A worker that saw half a stretch could not know its length.
        harness.DesignateTogether(engine => engine.DesignateRange(0, 0, pages * PageSize));

        harness.Engine.Flush(1, Timeout);

        harness.AssertDestinationEqualsSource();
        var statistics = harness.Engine.Statistics;
        Assert.Equal(pages - dataPages, statistics.ZeroPages);
        Assert.Equal(dataPages * PageSize, statistics.BytesWritten);
        Assert.True(statistics.ZeroRanges < pages - dataPages, "neighbouring zero pages should share a range");
        harness.AssertFabricClean();
        harness.DisposeEngineAndAssertNothingPinned();
    }

    [Fact]
    public void A_few_zero_pages_between_data_go_with_the_data_in_whole_writes()
    {
        // One page in seven turning zero (as in a real guest): splitting every write around a one-page zero range would
        // cost three operations and a round trip where one write does. They must still clear what the destination held.
        // The budget holds the whole region, so that no write is shrunk to fit it.
        var options = new EngineOptions { BudgetBytes = 4 << 20, MaxBlockBytes = 64 << 10 };
        using var harness = new TransferHarness(options, [4 << 20]);
        long pages = harness.PageCount(0);
        for (long page = 0; page < pages; page++)
        {
            harness.DestinationPage(0, page).Fill(0xee);
            if (page % 7 == 3)
            {
                harness.SourcePage(0, page).Clear();
            }
            else
            {
                PagePattern.Fill(harness.SourcePage(0, page), 0, page, 1);
            }
        }
        harness.DesignateTogether(engine => engine.DesignateRange(0, 0, pages * PageSize));

        harness.Engine.Flush(1, Timeout);

        harness.AssertDestinationEqualsSource();
        var statistics = harness.Engine.Statistics;
        Assert.Equal(0, statistics.ZeroPages);
        Assert.Equal(pages * PageSize, statistics.BytesWritten);
        Assert.True(statistics.BlocksWritten <= pages / options.PagesPerBlock * 2, $"{statistics.BlocksWritten} writes for {pages} pages");
        harness.AssertFabricClean();
        harness.DisposeEngineAndAssertNothingPinned();
    }

    [Fact]
    public void Never_touched_pages_between_data_still_go_as_ranges()
    {
        // Writing them would fault them in on both hosts: one in five pages of a guest that never touched them.
        var options = new EngineOptions { BudgetBytes = 256 << 10, MaxBlockBytes = 64 << 10 };
        using var source = new RdmaCs.Memory.AlignedBuffer(64 << 20, zeroed: false); // fresh memory, never touched
        using var residency = new RdmaCs.Memory.PageResidency(PageSize);
        using var scan = new RdmaCs.Memory.ZeroPageScan(PageSize);
        nint region = source.Address + (8 << 20);
        // The buffer asks for transparent huge pages, and touching one page would map its whole 2 MiB: not here.
        Assert.Equal(0, madvise(region, 2 << 20, MADV_NOHUGEPAGE));
        for (int page = 0; page < 20; page++)
        {
            if (page % 5 != 4)
            {
                source.Slice((8 << 20) + page * PageSize, PageSize).Fill(1);
            }
        }

        Assert.Equal(4, scan.LeadingRun(region, 20, privateAnonymous: true, minZeroRange: 16, out bool zero));
        Assert.False(zero);
        Assert.Equal(1, scan.LeadingRun(region + 4 * PageSize, 16, privateAnonymous: true, minZeroRange: 16, out zero));
        Assert.True(zero);
        // Not knowing which pages were touched (shared memory), the same single zero page goes with the data.
        Assert.Equal(20, scan.LeadingRun(region, 20, privateAnonymous: false, minZeroRange: 16, out zero));
        Assert.False(zero);
    }

    private const int MADV_NOHUGEPAGE = 15;

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int madvise(nint address, nuint length, int advice);

    [Fact]
    public void A_zero_only_region_registers_nothing()
    {
        var options = new EngineOptions { BudgetBytes = 256 << 10, MaxBlockBytes = 64 << 10 };
        using var harness = new TransferHarness(options, [2 << 20]);
        // Handed over at once: a worker already awake that looked while the range was being designated would see a zero
        // stretch shorter than MinZeroRangePages and rightly write it as data (CI caught that once).
        harness.DesignateTogether(engine => engine.DesignateRange(0, 0, 2 << 20));

        harness.Engine.Flush(1, Timeout);

        Assert.Equal(0, harness.Engine.Statistics.Registrations);
        Assert.Equal(harness.PageCount(0), harness.Engine.Statistics.ZeroPages);
        harness.AssertFabricClean();
        harness.DisposeEngineAndAssertNothingPinned();
    }

    [Fact]
    public void Never_touched_pages_are_known_zero_without_reading_them()
    {
        // Huge pages: touching one byte maps its whole 2 MiB, so the untouched pages are looked for in another 2 MiB.
        // 64 MiB: above glibc's largest mmap threshold, so the buffer is fresh memory, not a reused (touched) heap block.
        using var memory = new RdmaCs.Memory.AlignedBuffer(64 << 20, zeroed: false);
        using var residency = new RdmaCs.Memory.PageResidency(PageSize);
        memory.Page(3, PageSize)[100] = 1;
        var untouched = new bool[16];

        residency.FindUntouched(memory.Address, untouched);
        Assert.False(untouched[3]);
        residency.FindUntouched(memory.Address + (4 << 20), untouched);
        Assert.All(untouched, Assert.True);

        using var scan = new RdmaCs.Memory.ZeroPageScan(PageSize);
        // minZeroRange 1: every zero page counts here (pages 0-2 share page 3's huge page, so they may count as touched).
        Assert.Equal(3, scan.LeadingRun(memory.Address, 16, privateAnonymous: true, minZeroRange: 1, out bool zero));
        Assert.True(zero);
        Assert.Equal(1, scan.LeadingRun(memory.Address + 3 * PageSize, 13, privateAnonymous: true, minZeroRange: 1, out zero));
        Assert.False(zero);
        Assert.Equal(1, scan.ClearNonZero(memory.Address, 16, privateAnonymous: true));
        Assert.Equal(0, memory.Page(3, PageSize)[100]);
        Assert.Equal(0, scan.ClearNonZero(memory.Address + (4 << 20), 512, privateAnonymous: true));
        residency.FindUntouched(memory.Address + (4 << 20), untouched);
        Assert.All(untouched, Assert.True); // clearing did not touch them
    }

    [Fact]
    public void A_page_filled_between_the_zero_look_and_the_claim_arrives_with_its_data()
    {
        // The guest fills a page the worker has just seen zero, and QEMU hands it over again (deduplicated: its bit is
        // still set). Claiming the pages (clearing their bits) after that look would send the page as zero; the claim
        // must come before the look that decides.
        var options = new EngineOptions { BudgetBytes = 256 << 10, MaxBlockBytes = 64 << 10 };
        using var harness = new TransferHarness(options, [1 << 20]);
        const long RacedPage = 5;
        harness.DestinationPage(0, RacedPage).Fill(0xee);
        int raced = 0;
        harness.Engine.BeforeZeroPagesClaimed = (block, first, pages) =>
        {
            if (block == 0 && first <= RacedPage && RacedPage < first + pages && raced++ == 0)
            {
                harness.Modify(0, RacedPage, version: 1);
            }
        };

        harness.Engine.DesignateRange(0, 0, 1 << 20);
        harness.Engine.Flush(1, Timeout);

        Assert.Equal(1, raced);
        harness.AssertDestinationEqualsSource();
        Assert.Equal(harness.PageCount(0) - 1, harness.Engine.Statistics.ZeroPages);
        harness.AssertFabricClean();
        harness.DisposeEngineAndAssertNothingPinned();
    }

    [Fact]
    public void Pages_that_flip_between_zero_and_data_during_the_transfer_arrive_with_their_last_content()
    {
        // Slow, jittered completions keep zero ranges and writes in flight while their pages change again: the
        // memory fabric records a violation if a write is posted over a zero range that has not completed. Every zero
        // page is a range of its own here (MinZeroRangePages 1), so that ranges and writes interleave page by page.
        var options = new EngineOptions { BudgetBytes = 128 << 10, MaxBlockBytes = 16 << 10, MaxWritesInFlight = 16, MinZeroRangePages = 1 };
        var fabric = new MemoryFabricOptions { CompletionJitter = TimeSpan.FromMicroseconds(500), Seed = 11 };
        using var harness = new TransferHarness(options, [1 << 20], fabric);
        long pages = harness.PageCount(0);
        var random = new Random(5);
        for (int round = 1; round <= 40; round++)
        {
            for (int change = 0; change < 200; change++)
            {
                long page = random.NextInt64(pages);
                if (random.Next(2) == 0)
                {
                    harness.Clear(0, page);
                }
                else
                {
                    harness.Modify(0, page, version: round);
                }
            }
            if (round % 8 == 0)
            {
                harness.Engine.Flush(round, Timeout);
                harness.AssertDestinationEqualsSource();
            }
        }
        harness.Engine.Flush(41, Timeout);

        harness.AssertDestinationEqualsSource();
        Assert.True(harness.Engine.Statistics.ZeroPages > 0);
        harness.AssertFabricClean();
        harness.DisposeEngineAndAssertNothingPinned();
    }
}
