namespace RdmaCs.Memory;

/// <summary>Finds all-zero pages: vectorized, and it stops at the first nonzero byte, so data pages cost almost nothing.</summary>
internal static unsafe class ZeroPageScan
{
    /// <summary>How many of the <paramref name="pages"/> pages from <paramref name="address"/> are all zero, from the first on.</summary>
    public static int LeadingZeroPages(nint address, int pages, int pageSize)
    {
        int count = 0;
        while (count < pages && IsZero(address + (nint)count * pageSize, pageSize))
        {
            count++;
        }
        return count;
    }

    /// <summary>How many of the <paramref name="pages"/> pages from <paramref name="address"/> hold data, from the first on.</summary>
    public static int LeadingDataPages(nint address, int pages, int pageSize)
    {
        int count = 0;
        while (count < pages && !IsZero(address + (nint)count * pageSize, pageSize))
        {
            count++;
        }
        return count;
    }

    public static bool IsZero(nint address, int length) => new ReadOnlySpan<byte>((void*)address, length).IndexOfAnyExcept((byte)0) < 0;
}
