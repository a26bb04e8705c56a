using RdmaCs.Fabric.Memory;
using RdmaCs.Memory;
using RdmaCs.Transfer;

namespace RdmaCs.Cli.Bench;

/// <summary>
/// The shapes of dirty memory <c>rdmacs bench transfer --pattern</c> moves, each a round over a region the destination
/// already holds (the run before left it equal): which pages change, what they hold, and in which order the engine hears
/// of them.
/// </summary>
internal enum TransferPattern
{
    /// <summary>Every page new data, designated in one range: the engine's best case.</summary>
    Contiguous,

    /// <summary>Every page changed, every seventh now all zero (the destination must clear what it held there).</summary>
    ZeroHoles,

    /// <summary>One page in sixteen changed: isolated dirty pages, each a write of its own.</summary>
    Sparse,

    /// <summary>Every page new data, designated one by one in a random order while the engine runs.</summary>
    Random,
}

internal static class TransferPatterns
{
    public const int ZeroHoleStride = 7;
    public const int SparseStride = 16;

    public static string Name(this TransferPattern pattern) => pattern switch
    {
        TransferPattern.ZeroHoles => "zero-holes",
        _ => pattern.ToString().ToLowerInvariant(),
    };

    /// <summary>The pattern of a name that <see cref="Name"/> gives (the command line accepts no other).</summary>
    public static TransferPattern Parse(string name) => Enum.GetValues<TransferPattern>().Single(p => p.Name() == name);

    /// <summary>Guest bytes the round makes current at the destination (zero pages included): what covered_gbps counts.</summary>
    public static long CoveredBytes(this TransferPattern pattern, long regionBytes) =>
        pattern == TransferPattern.Sparse ? regionBytes / SparseStride / 4096 * 4096 : regionBytes;

    /// <summary>Writes the round's contents (generation <paramref name="version"/>) into <paramref name="memory"/>.</summary>
    public static void Fill(this TransferPattern pattern, AlignedBuffer memory, int pageSize, int version)
    {
        long pages = memory.Length / pageSize;
        for (long page = 0; page < pages; page++)
        {
            if (pattern == TransferPattern.Sparse && page % SparseStride != 0)
            {
                continue; // unchanged: the destination has it from the run before
            }
            if (pattern == TransferPattern.ZeroHoles && page % ZeroHoleStride == ZeroHoleStride - 1)
            {
                memory.Page(page, pageSize).Clear();
                continue;
            }
            PagePattern.Fill(memory.Page(page, pageSize), 0, page, version);
        }
    }

    /// <summary>Tells the engine which pages changed, in the pattern's order; returns once all are designated.</summary>
    public static void Designate(this TransferPattern pattern, TransferEngine engine, long pages, int seed)
    {
        switch (pattern)
        {
            case TransferPattern.Contiguous or TransferPattern.ZeroHoles:
                engine.DesignateRange(0, 0, pages * engine.PageSize);
                break;
            case TransferPattern.Sparse:
                for (long page = 0; page < pages; page += SparseStride)
                {
                    engine.DesignatePage(0, page);
                }
                break;
            case TransferPattern.Random:
                long[] order = new long[pages];
                for (long page = 0; page < pages; page++)
                {
                    order[page] = page;
                }
                new Random(seed).Shuffle(order);
                foreach (long page in order)
                {
                    engine.DesignatePage(0, page);
                }
                break;
        }
    }
}
