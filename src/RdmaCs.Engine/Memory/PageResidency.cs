using Microsoft.Win32.SafeHandles;

namespace RdmaCs.Memory;

/// <summary>
/// Which pages of this process were never touched, from <c>/proc/self/pagemap</c> (one 64-bit entry per page: bit 63
/// present, bit 62 swapped). A private anonymous page that is neither is zero, and reading it to find out would fault
/// it in: on some kernels (this machine's included) a read fault allocates and clears a real page, at up to 12 µs per
/// 4 KiB in a virtual machine. Without pagemap (or with another page size) every page counts as touched.
/// </summary>
internal sealed class PageResidency : IDisposable
{
    private const ulong Present = 1UL << 63;
    private const ulong Swapped = 1UL << 62;

    private readonly SafeFileHandle? _pagemap;
    private readonly int _pageSize;

    public PageResidency(int pageSize)
    {
        _pageSize = pageSize;
        if (pageSize != Environment.SystemPageSize)
        {
            return;
        }
        try
        {
            _pagemap = File.OpenHandle("/proc/self/pagemap", FileMode.Open, FileAccess.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _pagemap = null;
        }
    }

    /// <summary>
    /// Sets <paramref name="untouched"/>[i] for each of the pages from <paramref name="address"/> that was never touched;
    /// all false when that cannot be known.
    /// </summary>
    public void FindUntouched(nint address, Span<bool> untouched)
    {
        untouched.Clear();
        if (_pagemap is null || untouched.Length == 0)
        {
            return;
        }
        Span<ulong> entries = untouched.Length <= 512 ? stackalloc ulong[untouched.Length] : new ulong[untouched.Length];
        Span<byte> bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(entries);
        long offset = (long)((ulong)address / (ulong)_pageSize) * sizeof(ulong);
        try
        {
            if (RandomAccess.Read(_pagemap, bytes, offset) != bytes.Length)
            {
                return;
            }
        }
        catch (IOException)
        {
            return;
        }
        for (int i = 0; i < entries.Length; i++)
        {
            untouched[i] = (entries[i] & (Present | Swapped)) == 0;
        }
    }

    public void Dispose() => _pagemap?.Dispose();
}
