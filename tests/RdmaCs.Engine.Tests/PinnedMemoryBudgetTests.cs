using RdmaCs.Memory;

namespace RdmaCs.Tests;

public class PinnedMemoryBudgetTests
{
    [Fact]
    public void A_reservation_of_exactly_the_remaining_bytes_fits_and_one_more_byte_does_not()
    {
        var budget = new PinnedMemoryBudget(1000);
        Assert.True(budget.TryReserve(600));
        Assert.False(budget.TryReserve(401));
        Assert.True(budget.TryReserve(400));
        Assert.False(budget.TryReserve(1));
        Assert.Equal(1000, budget.Reserved);
        Assert.Equal(0, budget.Available);
    }

    [Fact]
    public void A_request_larger_than_the_whole_budget_is_refused_up_front_without_overflow()
    {
        var budget = new PinnedMemoryBudget(long.MaxValue - 1);
        Assert.True(budget.TryReserve(10));
        Assert.False(budget.TryReserve(long.MaxValue));
        Assert.False(budget.TryReserve(long.MaxValue - 10));
        Assert.Equal(10, budget.Reserved);
    }

    [Fact]
    public void The_peak_remembers_the_highest_reservation_after_releases()
    {
        var budget = new PinnedMemoryBudget(100);
        budget.TryReserve(70);
        budget.Release(50);
        budget.TryReserve(10);
        Assert.Equal(30, budget.Reserved);
        Assert.Equal(70, budget.Peak);
    }

    [Fact]
    public void Releasing_more_than_is_reserved_throws_and_changes_nothing()
    {
        var budget = new PinnedMemoryBudget(100);
        budget.TryReserve(10);
        Assert.Throws<InvalidOperationException>(() => budget.Release(11));
        Assert.Equal(10, budget.Reserved);
    }

    [Fact]
    public void Concurrent_reservations_never_exceed_the_capacity()
    {
        var budget = new PinnedMemoryBudget(1000);
        long over = 0;
        Parallel.For(0, 4, _ =>
        {
            for (int i = 0; i < 100_000; i++)
            {
                if (budget.TryReserve(7))
                {
                    if (budget.Reserved > 1000)
                    {
                        Interlocked.Increment(ref over);
                    }
                    budget.Release(7);
                }
            }
        });
        Assert.Equal(0, over);
        Assert.Equal(0, budget.Reserved);
        Assert.InRange(budget.Peak, 7, 1000);
    }
}
