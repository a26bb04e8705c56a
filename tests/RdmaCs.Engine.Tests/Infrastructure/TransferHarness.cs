using System.Collections.Concurrent;
using RdmaCs.Configuration;
using RdmaCs.Fabric.Memory;
using RdmaCs.Memory;
using RdmaCs.Transfer;

namespace RdmaCs.Tests.Infrastructure;

/// <summary>
/// A <see cref="MemoryTransfer"/> with the checks every test wants: contents equal, budget never exceeded
/// (the fabric refuses any registration past it), nothing left registered or locked.
/// </summary>
internal sealed class TransferHarness : IDisposable
{
    private readonly MemoryTransfer _transfer;

    public TransferHarness(EngineOptions options, long[] blockBytes, MemoryFabricOptions? fabricOptions = null)
    {
        fabricOptions ??= new MemoryFabricOptions();
        fabricOptions = fabricOptions with
        {
            RegistrationLimitBytes = Math.Min(fabricOptions.RegistrationLimitBytes, options.BudgetBytes),
        };
        _transfer = new MemoryTransfer(options, blockBytes, fabricOptions, (level, message) => Log.Enqueue($"{level}: {message}"));
    }

    public EngineOptions Options => _transfer.Options;
    public MemoryFabric Fabric => _transfer.Fabric;
    public TransferEngine Engine => _transfer.Engine;
    public ConcurrentQueue<string> Log { get; } = new();
    public int BlockCount => _transfer.BlockCount;

    public long PageCount(int block) => _transfer.PageCount(block);

    public Span<byte> SourcePage(int block, long page) => _transfer.SourcePage(block, page);

    public Span<byte> DestinationPage(int block, long page) => _transfer.DestinationPage(block, page);

    /// <summary>Rewrites a source page (block, page and version visible in its bytes), then designates it.</summary>
    public void Modify(int block, long page, int version) => _transfer.Rewrite(block, page, version);

    /// <summary>Clears a source page to zero, then designates it.</summary>
    public void Clear(int block, long page) => _transfer.Clear(block, page);

    /// <summary>
    /// Designates <paramref name="designate"/>'s pages so that the worker sees them all at once, as QEMU hands over a
    /// bitmap's worth: held meanwhile, it cannot write the first page before the next is designated.
    /// </summary>
    public void DesignateTogether(Action<TransferEngine> designate)
    {
        Engine.HoldSelection = true;
        Thread.Sleep(20); // a selection already under way when the hold came finishes first
        designate(Engine);
        Engine.HoldSelection = false;
    }

    /// <summary>Fills every source page with data, without designating it.</summary>
    public void FillAll(int version) => _transfer.FillAll(version);

    public void AssertDestinationEqualsSource()
    {
        (int Block, long Page)? difference = _transfer.FirstDifference();
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
        _transfer.DisposeEngine();
        Assert.Equal(0, Fabric.ActiveRegistrations);
        Assert.Equal(0, Fabric.RegisteredBytes);
        Assert.Equal(0, Engine.Statistics.PinnedBytes);
        Assert.Equal(0, ProcessMemoryStatus.ReadLockedBytes());
    }

    public void Dispose() => _transfer.Dispose();
}
