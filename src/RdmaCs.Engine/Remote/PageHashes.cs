using System.IO.Hashing;
using RdmaCs.Protocol;

namespace RdmaCs.Remote;

/// <summary>Per-page hashes (XXH3) of RAM blocks: how the two sides compare what they hold without sending it.</summary>
public static class PageHashing
{
    public static unsafe ulong[] HashPages(RamBlock block, int pageSize)
    {
        long pages = block.Length / pageSize;
        var hashes = new ulong[pages];
        for (long page = 0; page < pages; page++)
        {
            hashes[page] = XxHash3.HashToUInt64(new ReadOnlySpan<byte>((byte*)block.Address + page * pageSize, pageSize));
        }
        return hashes;
    }

    /// <summary>The hashes of one block as messages of at most <see cref="MessageCodec.MaxHashesPerMessage"/> each.</summary>
    public static IEnumerable<PageHashes> Chunk(int block, ulong[] hashes)
    {
        for (long first = 0; first < hashes.Length; first += MessageCodec.MaxHashesPerMessage)
        {
            int count = (int)Math.Min(MessageCodec.MaxHashesPerMessage, hashes.Length - first);
            yield return new PageHashes(block, first, hashes.AsSpan((int)first, count).ToArray());
        }
    }
}
