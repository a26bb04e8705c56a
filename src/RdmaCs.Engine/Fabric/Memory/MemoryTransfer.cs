using RdmaCs.Configuration;
using RdmaCs.Memory;
using RdmaCs.Transfer;

namespace RdmaCs.Fabric.Memory;

/// <summary>
/// A whole transfer inside one process: source RAM blocks, destination RAM blocks, the memory fabric
/// between them and an engine on top; disposed in the right order (engine, fabric, memory).
/// The set-up the demo, the engine benchmark and the engine's tests share.
/// </summary>
public sealed class MemoryTransfer : IDisposable
{
    private readonly AlignedBuffer[] _sources;
    private readonly AlignedBuffer[] _destinations;
    private readonly EngineLog? _log;
    private bool _engineDisposed;

    /// <param name="blockBytes">Length of each RAM block.</param>
    /// <param name="prefault">Touch every page up front, so that first-touch faults don't distort timings.</param>
    public MemoryTransfer(EngineOptions options, IReadOnlyList<long> blockBytes, MemoryFabricOptions? fabricOptions = null,
        EngineLog? log = null, bool prefault = true)
    {
        _log = log;
        _sources = [.. blockBytes.Select(length => new AlignedBuffer(length, zeroed: prefault))];
        _destinations = [.. blockBytes.Select(length => new AlignedBuffer(length, zeroed: prefault))];
        Fabric = new MemoryFabric(Blocks("dst", _destinations), fabricOptions);
        CreateEngine(options);
    }

    public EngineOptions Options { get; private set; }
    public MemoryFabric Fabric { get; }
    public TransferEngine Engine { get; private set; }
    public int PageSize => Options.PageSize;
    public int BlockCount => _sources.Length;

    public long PageCount(int block) => _sources[block].Length / PageSize;

    /// <summary>Fills every source page with data (<see cref="PagePattern"/>, never all zero), without designating it.</summary>
    public void FillAll(int version)
    {
        for (int block = 0; block < BlockCount; block++)
        {
            for (long page = 0; page < PageCount(block); page++)
            {
                PagePattern.Fill(SourcePage(block, page), block, page, version);
            }
        }
    }

    /// <summary>Source RAM block <paramref name="block"/> as the engine sees it.</summary>
    public RamBlock SourceBlock(int block) => Engine.RamBlocks[block];

    public Span<byte> SourcePage(int block, long page) => _sources[block].Page(page, PageSize);

    public Span<byte> DestinationPage(int block, long page) => _destinations[block].Page(page, PageSize);

    /// <summary>Clears a whole source page, then designates it (a zero page: it goes as a zero range).</summary>
    public void Clear(int block, long page)
    {
        SourcePage(block, page).Clear();
        Engine.DesignatePage(block, page);
    }

    /// <summary>Rewrites a whole source page with a pattern unique to (block, page, version), then designates it.</summary>
    public void Rewrite(int block, long page, int version)
    {
        PagePattern.Fill(SourcePage(block, page), block, page, version);
        Engine.DesignatePage(block, page);
    }

    /// <summary>The first page whose destination differs from its source, or null when every block is equal.</summary>
    public (int Block, long Page)? FirstDifference()
    {
        for (int block = 0; block < _sources.Length; block++)
        {
            for (long page = 0; page < PageCount(block); page++)
            {
                if (!_sources[block].Page(page, PageSize).SequenceEqual(_destinations[block].Page(page, PageSize)))
                {
                    return (block, page);
                }
            }
        }
        return null;
    }

    /// <summary>
    /// Replaces the engine with a new one (the old one is disposed) and zeroes the destination, keeping the
    /// memory: a benchmark's runs then differ only in what they measure, not in page faults.
    /// </summary>
    public void StartEngine(EngineOptions options)
    {
        DisposeEngine();
        foreach (AlignedBuffer destination in _destinations)
        {
            destination.Clear();
        }
        CreateEngine(options);
    }

    [System.Diagnostics.CodeAnalysis.MemberNotNull(nameof(Engine), nameof(Options))]
    private void CreateEngine(EngineOptions options)
    {
        Options = options;
        Engine = new TransferEngine(options, Fabric, Blocks("ram", _sources), _log);
        _engineDisposed = false;
    }

    /// <summary>Disposes the engine (which deregisters and unpins everything) and leaves the rest for inspection.</summary>
    public void DisposeEngine()
    {
        if (!_engineDisposed)
        {
            _engineDisposed = true;
            Engine.Dispose();
        }
    }

    public void Dispose()
    {
        DisposeEngine();
        Fabric.Dispose();
        foreach (AlignedBuffer buffer in _sources.Concat(_destinations))
        {
            buffer.Dispose();
        }
    }

    private static RamBlock[] Blocks(string prefix, AlignedBuffer[] buffers) =>
        [.. buffers.Select((buffer, index) => new RamBlock($"{prefix}{index}", buffer.Address, buffer.Length))];
}

/// <summary>Page contents that tell block, page and version apart, so a lost, stale or torn page is visible.</summary>
public static class PagePattern
{
    public static void Fill(Span<byte> page, int block, long pageIndex, int version)
    {
        Span<long> words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(page);
        long stamp = ((long)version << 40) ^ ((long)block << 32) ^ pageIndex;
        for (int i = 0; i < words.Length; i++)
        {
            words[i] = stamp + i;
        }
    }
}
