namespace RdmaCs.Memory;

/// <summary>
/// Finds all-zero pages by reading them, vectorized and stopping at the first nonzero byte, so that a data page costs
/// almost nothing; in private anonymous memory only, never-touched pages count as zero without being read
/// (<see cref="PageResidency"/>). Shared and file-backed memory can hold data this process never touched (another
/// process wrote it through its own mapping, or it is the file's), so there every page is read. One thread.
/// </summary>
internal sealed unsafe class ZeroPageScan(int pageSize) : IDisposable
{
    /// <summary>The most pages one call looks at.</summary>
    public const int PagesPerLookup = 512;

    private readonly PageResidency _residency = new(pageSize);
    private readonly bool[] _untouched = new bool[PagesPerLookup];

    /// <summary>
    /// How the <paramref name="pages"/> designated pages from <paramref name="address"/> begin (looking at no more than
    /// 512): with a run to send as a zero range (<paramref name="zero"/> true), or with a run to write as data.
    /// A zero range is worth its round trip for pages never touched (writing them would fault them in on both hosts) and
    /// for at least <paramref name="minZeroRange"/> zero pages in a row; fewer zero pages that were touched are written
    /// with the data around them, since one write costs less than a write split around a zero range.
    /// <paramref name="privateAnonymous"/>: the memory is private anonymous (see <see cref="RamBlock.PrivateAnonymous"/>).
    /// </summary>
    public int LeadingRun(nint address, int pages, bool privateAnonymous, int minZeroRange, out bool zero)
    {
        pages = Math.Min(pages, PagesPerLookup);
        FindUntouched(address, pages, privateAnonymous);
        int page = 0;
        while (page < pages)
        {
            if (!IsZero(address, page))
            {
                page++;
                continue;
            }
            (int stretch, bool untouched) = ZeroStretch(address, page, pages);
            if (untouched || stretch >= minZeroRange)
            {
                if (page == 0)
                {
                    zero = true;
                    return stretch;
                }
                break; // the data run ends before it
            }
            page += stretch; // a few touched zero pages: written with the data
        }
        zero = false;
        return page;
    }

    /// <summary>How many of the <paramref name="pages"/> pages from <paramref name="address"/>, from the first on, are all zero.</summary>
    public int ZeroPrefix(nint address, int pages, bool privateAnonymous)
    {
        pages = Math.Min(pages, PagesPerLookup);
        FindUntouched(address, pages, privateAnonymous);
        return ZeroStretch(address, 0, pages).Pages;
    }

    /// <summary>The zero pages in a row from <paramref name="first"/> on, and whether any of them was never touched.</summary>
    private (int Pages, bool Untouched) ZeroStretch(nint address, int first, int end)
    {
        int page = first;
        bool untouched = false;
        while (page < end && IsZero(address, page))
        {
            untouched |= _untouched[page];
            page++;
        }
        return (page - first, untouched);
    }

    /// <summary>
    /// Makes the <paramref name="pages"/> pages from <paramref name="address"/> zero, writing only those that are not
    /// (never-touched pages of private anonymous memory are not even read); returns how many it cleared.
    /// </summary>
    public long ClearNonZero(nint address, long pages, bool privateAnonymous)
    {
        long cleared = 0;
        for (long first = 0; first < pages; first += PagesPerLookup)
        {
            int count = (int)Math.Min(PagesPerLookup, pages - first);
            nint chunk = address + (nint)(first * pageSize);
            FindUntouched(chunk, count, privateAnonymous);
            for (int i = 0; i < count; i++)
            {
                if (!IsZero(chunk, i))
                {
                    new Span<byte>((void*)(chunk + (nint)i * pageSize), pageSize).Clear();
                    cleared++;
                }
            }
        }
        return cleared;
    }

    private void FindUntouched(nint address, int pages, bool privateAnonymous)
    {
        if (privateAnonymous)
        {
            _residency.FindUntouched(address, _untouched.AsSpan(0, pages));
        }
        else
        {
            _untouched.AsSpan(0, pages).Clear();
        }
    }

    private bool IsZero(nint address, int index) =>
        _untouched[index] || new ReadOnlySpan<byte>((void*)(address + (nint)index * pageSize), pageSize).IndexOfAnyExcept((byte)0) < 0;

    public void Dispose() => _residency.Dispose();
}
