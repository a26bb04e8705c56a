using RdmaCs.Designation;

namespace RdmaCs.Tests;

public class DesignationBitmapTests
{
    [Fact]
    public void Designating_a_page_twice_reports_the_second_time_as_a_duplicate()
    {
        var bitmap = new DesignationBitmap(100);
        Assert.True(bitmap.Designate(7));
        Assert.False(bitmap.Designate(7));
        Assert.Equal(1, bitmap.CountDesignated());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(4095)]
    [InlineData(4096)]
    [InlineData(9999)]
    public void The_next_designated_page_is_found_across_word_and_summary_boundaries(long page)
    {
        var bitmap = new DesignationBitmap(10_000);
        bitmap.Designate(page);
        Assert.Equal(page, bitmap.FindNext(0, 10_000));
        Assert.Equal(page, bitmap.FindNext(page, page + 1));
        Assert.Equal(-1, bitmap.FindNext(page + 1, 10_000));
        Assert.Equal(-1, bitmap.FindNext(0, page));
    }

    [Theory]
    [InlineData(0, 64)]
    [InlineData(5, 100)]
    [InlineData(60, 10)]
    [InlineData(1, 200)]
    public void A_run_is_counted_up_to_the_first_clean_page_or_the_limit(long first, int length)
    {
        var bitmap = new DesignationBitmap(1000);
        for (long page = first; page < first + length; page++)
        {
            bitmap.Designate(page);
        }
        Assert.Equal(length, bitmap.CountRun(first, 1000));
        Assert.Equal(length - 1, bitmap.CountRun(first + 1, 1000));
        Assert.Equal(3, bitmap.CountRun(first, 3));
    }

    [Fact]
    public void A_run_stops_at_the_end_of_the_block()
    {
        var bitmap = new DesignationBitmap(70);
        for (long page = 60; page < 70; page++)
        {
            bitmap.Designate(page);
        }
        Assert.Equal(10, bitmap.CountRun(60, 64));
    }

    [Fact]
    public void Clearing_a_run_leaves_its_neighbours_designated_and_empties_the_summary()
    {
        var bitmap = new DesignationBitmap(300);
        for (long page = 10; page < 200; page++)
        {
            bitmap.Designate(page);
        }
        bitmap.Clear(11, 188);
        Assert.Equal(10, bitmap.FindNext(0, 300));
        Assert.Equal(199, bitmap.FindNext(11, 300));
        bitmap.Clear(10, 1);
        bitmap.Clear(199, 1);
        Assert.Equal(-1, bitmap.FindNext(0, 300));
        Assert.Equal(0, bitmap.CountDesignated());
        Assert.True(bitmap.Designate(150), "a cleared page can be designated again");
        Assert.Equal(150, bitmap.FindNext(0, 300));
    }

    [Fact]
    public void No_designation_is_lost_while_another_thread_keeps_clearing()
    {
        // The designator marks pages of one word while the clearer takes them: a page whose designation
        // landed after its word emptied must still be found through the summary.
        const long Pages = 64 * 64 * 2;
        var bitmap = new DesignationBitmap(Pages);
        var taken = new bool[Pages];
        long designated = 0;
        using var done = new CancellationTokenSource();
        var designator = new Thread(() =>
        {
            for (long page = 0; page < Pages; page++)
            {
                if (bitmap.Designate(page))
                {
                    Interlocked.Increment(ref designated);
                }
            }
            done.Cancel();
        });
        designator.Start();
        long cleared = 0;
        while (true)
        {
            bool finished = done.IsCancellationRequested;
            long page = bitmap.FindNext(0, Pages);
            while (page >= 0)
            {
                int run = bitmap.CountRun(page, 64);
                bitmap.Clear(page, run);
                for (long p = page; p < page + run; p++)
                {
                    Assert.False(taken[p], $"page {p} taken twice");
                    taken[p] = true;
                }
                cleared += run;
                page = bitmap.FindNext(page + run, Pages);
            }
            if (finished)
            {
                break;
            }
        }
        designator.Join();
        Assert.Equal(Pages, Interlocked.Read(ref designated));
        Assert.Equal(Pages, cleared);
    }
}
