using System.Runtime.InteropServices;

namespace RdmaCs.Qemu;

/// <summary>Checks of the page-writer guest's memory after a migration.</summary>
public static class GuestMemory
{
    private const int PageSize = 4096;
    private const int GuestStart = 0x100000; // the guest writes every page from 1 MiB up

    /// <summary>The offset of the first byte that differs, or -1 when the two are equal.</summary>
    public static long FirstDifference(ReadOnlySpan<byte> source, ReadOnlySpan<byte> destination)
    {
        int common = source.CommonPrefixLength(destination);
        return common == source.Length && source.Length == destination.Length ? -1 : common;
    }

    /// <summary>
    /// Pages the guest writes (above 1 MiB: all of RAM, or only the hot set when it leaves the rest zero) that are not
    /// one repeated 32-bit generation. The guest fills each page with one value, page after page, so only the page it
    /// was writing when it stopped may be torn; more means a page was lost or torn. (Where the guest leaves RAM alone,
    /// the firmware's tables may sit.)
    /// </summary>
    public static int TornPages(ReadOnlySpan<byte> memory, GuestLoad load)
    {
        ReadOnlySpan<uint> words = MemoryMarshal.Cast<byte, uint>(memory);
        long end = load.LeaveRestZero ? Math.Min(memory.Length, GuestStart + load.HotBytes) : memory.Length;
        int torn = 0;
        for (int page = GuestStart / PageSize; page < end / PageSize; page++)
        {
            ReadOnlySpan<uint> content = words.Slice(page * (PageSize / 4), PageSize / 4);
            if (content.IndexOfAnyExcept(content[0]) >= 0)
            {
                torn++;
            }
        }
        return torn;
    }

    /// <summary>The generation the guest wrote at 1 MiB: nonzero once it has run.</summary>
    public static uint FirstGeneration(ReadOnlySpan<byte> memory) => MemoryMarshal.Read<uint>(memory[GuestStart..]);
}
