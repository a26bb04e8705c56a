using System.Numerics;

namespace RdmaCs.Designation;

/// <summary>
/// Which pages of one RAM block are designated for transfer: one bit per page, plus a summary bit per
/// 64-page word so that the selector skips clean regions quickly.
/// </summary>
/// <remarks>
/// Any thread may designate (lock-free, allocation-free, O(1), idempotent). Only the engine's worker
/// clears bits, and it clears a page's bit <em>before</em> the write that reads the page is posted: a
/// modification after the clear designates the page again, one before it is carried by the write.
/// </remarks>
internal sealed class DesignationBitmap
{
    private readonly ulong[] _pages;   // bit p % 64 of word p / 64: page p is designated
    private readonly ulong[] _summary; // bit w % 64 of word w / 64: word w of _pages may be non-zero

    public DesignationBitmap(long pageCount)
    {
        PageCount = pageCount;
        _pages = new ulong[(pageCount + 63) / 64];
        _summary = new ulong[(_pages.Length + 63) / 64];
    }

    public long PageCount { get; }

    /// <summary>Designates <paramref name="page"/>; false when it already was (deduplicated).</summary>
    public bool Designate(long page)
    {
        ref ulong word = ref _pages[page >> 6];
        ulong bit = 1UL << (int)(page & 63);
        // The plain read keeps re-designation of a hot page free of a locked instruction.
        if ((Volatile.Read(ref word) & bit) != 0)
        {
            return false;
        }
        ulong before = Interlocked.Or(ref word, bit);
        if ((before & bit) != 0)
        {
            return false;
        }
        if (before == 0)
        {
            long wordIndex = page >> 6;
            Interlocked.Or(ref _summary[wordIndex >> 6], 1UL << (int)(wordIndex & 63));
        }
        return true;
    }

    /// <summary>The first designated page in [<paramref name="from"/>, <paramref name="to"/>), or -1.</summary>
    public long FindNext(long from, long to)
    {
        to = Math.Min(to, PageCount);
        long page = from;
        while (page < to)
        {
            long wordIndex = page >> 6;
            long summaryIndex = wordIndex >> 6;
            ulong summary = Volatile.Read(ref _summary[summaryIndex]) & (ulong.MaxValue << (int)(wordIndex & 63));
            if (summary == 0)
            {
                page = (summaryIndex + 1) << 12; // skip the 4096 pages this summary word covers
                continue;
            }
            wordIndex = (summaryIndex << 6) + BitOperations.TrailingZeroCount(summary);
            long wordStart = wordIndex << 6;
            ulong word = Volatile.Read(ref _pages[wordIndex]);
            if (page > wordStart)
            {
                word &= ulong.MaxValue << (int)(page - wordStart);
            }
            if (word != 0)
            {
                long found = wordStart + BitOperations.TrailingZeroCount(word);
                return found < to ? found : -1;
            }
            if (page <= wordStart)
            {
                // The summary bit was stale: the word emptied since it was set.
                RefreshSummary(wordIndex);
            }
            page = wordStart + 64;
        }
        return -1;
    }

    /// <summary>How many pages from <paramref name="first"/> on are designated without a gap, at most <paramref name="max"/>.</summary>
    public int CountRun(long first, int max)
    {
        int count = 0;
        long page = first;
        long end = Math.Min(first + max, PageCount);
        while (page < end)
        {
            long wordIndex = page >> 6;
            int bitIndex = (int)(page & 63);
            ulong word = Volatile.Read(ref _pages[wordIndex]) >> bitIndex;
            int ones = BitOperations.TrailingZeroCount(~word); // 64 when every bit from bitIndex on is set
            int available = 64 - bitIndex;
            int take = (int)Math.Min(Math.Min(ones, available), end - page);
            count += take;
            page += take;
            if (take < available && page < end)
            {
                break; // hit a clean page
            }
        }
        return count;
    }

    /// <summary>Clears the designation of [<paramref name="first"/>, <paramref name="first"/> + <paramref name="count"/>). Worker only.</summary>
    public void Clear(long first, int count)
    {
        long page = first;
        long end = first + count;
        while (page < end)
        {
            long wordIndex = page >> 6;
            int bitIndex = (int)(page & 63);
            int take = (int)Math.Min(64 - bitIndex, end - page);
            ulong mask = take == 64 ? ulong.MaxValue : ((1UL << take) - 1) << bitIndex;
            ulong before = Interlocked.And(ref _pages[wordIndex], ~mask);
            if ((before & ~mask) == 0)
            {
                RefreshSummary(wordIndex);
            }
            page += take;
        }
    }

    /// <summary>Number of designated pages (the backlog); a racy but consistent-enough count for statistics.</summary>
    public long CountDesignated()
    {
        long total = 0;
        for (int i = 0; i < _summary.Length; i++)
        {
            ulong summary = Volatile.Read(ref _summary[i]);
            while (summary != 0)
            {
                int bit = BitOperations.TrailingZeroCount(summary);
                total += BitOperations.PopCount(Volatile.Read(ref _pages[(i << 6) + bit]));
                summary &= summary - 1;
            }
        }
        return total;
    }

    /// <summary>
    /// Clears the summary bit of an empty word, then looks again: a designator that saw the bit still set
    /// (and so did not set it) has written its page bit before, and the second look finds it.
    /// </summary>
    private void RefreshSummary(long wordIndex)
    {
        ref ulong summary = ref _summary[wordIndex >> 6];
        ulong bit = 1UL << (int)(wordIndex & 63);
        Interlocked.And(ref summary, ~bit);
        if (Volatile.Read(ref _pages[wordIndex]) != 0)
        {
            Interlocked.Or(ref summary, bit);
        }
    }
}
