namespace RdmaCs.Memory;

/// <summary>
/// Finds all-zero pages by reading them, vectorized and stopping at the first nonzero byte, so that a data page costs
/// almost nothing; in private anonymous memory only, never-touched pages count as zero without being read
/// (<see cref="PageResidency"/>). Shared and file-backed memory can hold data this process never touched (another
/// process wrote it through its own mapping, or it is the file's), so there every page is read. One thread.
/// </summary>
internal sealed unsafe class ZeroPageScan(int pageSize) : IDisposable
{
    private const int PagesPerLookup = 512;

    private readonly PageResidency _residency = new(pageSize);
    private readonly bool[] _untouched = new bool[PagesPerLookup];

    /// <summary>
    /// How many of the <paramref name="pages"/> pages from <paramref name="address"/>, from the first on, are all zero
    /// (<paramref name="zero"/> true) or all hold data (false). Looks at no more than 512 pages.
    /// <paramref name="privateAnonymous"/>: the memory is private anonymous (see <see cref="RamBlock.PrivateAnonymous"/>).
    /// </summary>
    public int LeadingRun(nint address, int pages, bool privateAnonymous, out bool zero)
    {
        pages = Math.Min(pages, PagesPerLookup);
        FindUntouched(address, pages, privateAnonymous);
        zero = IsZero(address, 0);
        int count = 1;
        while (count < pages && IsZero(address, count) == zero)
        {
            count++;
        }
        return count;
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
