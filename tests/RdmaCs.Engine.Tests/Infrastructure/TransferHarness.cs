using System.Collections.Concurrent;
using RdmaCs.Configuration;
using RdmaCs.Fabric.Memory;
using RdmaCs.Memory;
using RdmaCs.Transfer;

namespace RdmaCs.Tests.Infrastructure;

/// <summary>
/// Source RAM blocks, destination RAM blocks, a memory fabric between them and an engine on top; with the
/// checks every test wants: contents equal, budget never exceeded, nothing left registered or locked.
/// </summary>
internal sealed class TransferHarness : IDisposable
{
    private readonly AlignedBuffer[] _sources;
    private readonly AlignedBuffer[] _destinations;
    private bool _engineDisposed;

    public TransferHarness(EngineOptions options, long[] blockBytes, MemoryFabricOptions? fabricOptions = null)
    {
        Options = options;
        _sources = [.. blockBytes.Select(length => new AlignedBuffer(length))];
        _destinations = [.. blockBytes.Select(length => new AlignedBuffer(length))];
        // The fabric refuses any registration past the budget: the check at every registration.
        fabricOptions ??= new MemoryFabricOptions();
        Fabric = new MemoryFabric(Blocks(_destinations), fabricOptions with
        {
            RegistrationLimitBytes = Math.Min(fabricOptions.RegistrationLimitBytes, options.BudgetBytes),
        });
        Engine = new TransferEngine(options, Fabric, Blocks(_sources), (level, message) => Log.Enqueue($"{level}: {message}"));
    }

    public EngineOptions Options { get; }
    public MemoryFabric Fabric { get; }
    public TransferEngine Engine { get; }
    public ConcurrentQueue<string> Log { get; } = new();
    public int PageSize => Options.PageSize;
    public int BlockCount => _sources.Length;

    public long PageCount(int block) => _sources[block].Length / PageSize;

    public Span<byte> SourcePage(int block, long page) => _sources[block].Page(page, PageSize);

    /// <summary>Fills a source page with bytes that tell its block, page and version apart, then designates it.</summary>
    public void Modify(int block, long page, int version)
    {
        FillPage(SourcePage(block, page), block, page, version);
        Engine.DesignatePage(block, page);
    }

    public static void FillPage(Span<byte> bytes, int block, long page, int version)
    {
        var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(bytes);
        long stamp = ((long)version << 40) ^ ((long)block << 32) ^ page;
        for (int i = 0; i < words.Length; i++)
        {
            words[i] = stamp + i;
        }
    }

    /// <summary>First page whose destination differs from its source, or null when all blocks are equal.</summary>
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

    public void AssertDestinationEqualsSource()
    {
        (int Block, long Page)? difference = FirstDifference();
        Assert.True(difference is null, $"destination differs from source at RAM block {difference?.Block} page {difference?.Page}");
    }

    /// <summary>The fabric saw no misuse and never had more registered than the budget.</summary>
    public void AssertFabricClean()
    {
        Assert.Empty(Fabric.Violations);
        Assert.InRange(Fabric.PeakRegisteredBytes, 0, Options.BudgetBytes);
        Assert.InRange(Engine.Statistics.PeakPinnedBytes, 0, Options.BudgetBytes);
    }

    /// <summary>Disposes the engine, then checks nothing is registered or locked any more.</summary>
    public void DisposeEngineAndAssertNothingPinned()
    {
        DisposeEngine();
        Assert.Equal(0, Fabric.ActiveRegistrations);
        Assert.Equal(0, Fabric.RegisteredBytes);
        Assert.Equal(0, Engine.Statistics.PinnedBytes);
        Assert.Equal(0, ProcessMemoryStatus.ReadLockedBytes());
    }

    private void DisposeEngine()
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

    private static RamBlock[] Blocks(AlignedBuffer[] buffers) =>
        [.. buffers.Select((buffer, index) => new RamBlock($"ram{index}", buffer.Address, buffer.Length))];
}
