using RdmaCs.Bindings.LibFabric;
using RdmaCs.Configuration;
using RdmaCs.Fabric;
using RdmaCs.Fabric.LibFabric;
using RdmaCs.Memory;
using RdmaCs.Protocol;

namespace RdmaCs.Remote;

/// <summary>
/// The destination's guest RAM as the source may write it: windows registered for remote writes (never reads) when the
/// source asks, deregistered when it releases them, never more bytes at once than the destination's budget. On software
/// providers each window is also locked (mlock) while registered, as the source locks its blocks: the budget is then
/// what the kernel counts in <c>VmLck</c>, and a <c>RLIMIT_MEMLOCK</c> below it fails here, not silently.
/// </summary>
/// <remarks>
/// Why windows on demand, and not a pool of registered staging buffers the source writes into and the destination copies
/// from: a copy costs the destination's CPU as much per byte as registering costs per window (about 0.1 ms per MiB
/// either way), but a window is registered once for every write into it, and pages dirtied close together (the usual
/// case) share one; a staging buffer would also need a message per write, after its landing, to say where to copy it.
/// </remarks>
internal sealed class ExposedWindows(FabricDomain domain, IReadOnlyList<RamBlock> blocks, WindowLayout layout, PinnedMemoryBudget budget,
    DestinationCounters counters) : IDisposable
{
    private readonly Dictionary<WindowId, (FabricMemoryRegion Region, nint Address, long Length)> _exposed = [];
    private readonly bool _lockMemory = !domain.Info.RegistrationPins;

    /// <summary>Keys below are the destination's own (the fence target).</summary>
    public const ulong FirstKey = 16;

    /// <summary>Registers <paramref name="window"/> for remote writes; a window that does not exist, or one too many, is the source's error.</summary>
    public RemoteKey Expose(WindowId window)
    {
        if ((uint)window.Block >= (uint)blocks.Count)
        {
            throw new ProtocolException($"the source asked for window {window.Index} of RAM block {window.Block}; there are {blocks.Count} blocks");
        }
        RamBlock block = blocks[window.Block];
        if (window.Index > (block.Length - 1) / layout.WindowBytes)
        {
            throw new ProtocolException($"the source asked for window {window.Index} of RAM block '{block.Name}', which has {(block.Length - 1) / layout.WindowBytes + 1}");
        }
        if (_exposed.ContainsKey(window))
        {
            throw new ProtocolException($"the source asked again for window {window.Index} of RAM block '{block.Name}', which it holds");
        }
        long start = layout.Start(window);
        long length = layout.Length(window, block.Length);
        if (!budget.TryReserve(length))
        {
            throw new ProtocolException(
                $"the source asked for a window of {ByteSize.Format(length)} beyond the destination's budget: {_exposed.Count} window(s) hold " +
                $"{ByteSize.Format(budget.Reserved)} of {ByteSize.Format(budget.Capacity)} (it may hold {layout.Windows})");
        }
        nint address = block.Address + (nint)start;
        try
        {
            if (_lockMemory)
            {
                Lock(address, length);
            }
            try
            {
                FabricMemoryRegion region = domain.Register(address, length, Fi.FI_REMOTE_WRITE, UnguessableKey());
                _exposed.Add(window, (region, address, length));
                counters.Registered();
                return new RemoteKey(region.Key, domain.Info.RemoteAddressIsVirtual ? (ulong)address : 0);
            }
            catch
            {
                if (_lockMemory)
                {
                    MemoryLock.Unlock(address, length);
                }
                throw;
            }
        }
        catch
        {
            budget.Release(length);
            throw;
        }
    }

    /// <summary>Deregisters <paramref name="window"/>; releasing one the source does not hold is its error.</summary>
    public void Withdraw(WindowId window)
    {
        if (!_exposed.Remove(window, out var exposed))
        {
            throw new ProtocolException($"the source released window {window.Index} of RAM block {window.Block}, which it does not hold");
        }
        Release(exposed);
    }

    /// <summary>Deregisters every window: nothing may write into guest RAM any more.</summary>
    public void Dispose()
    {
        foreach (var exposed in _exposed.Values)
        {
            Release(exposed);
        }
        _exposed.Clear();
    }

    /// <summary>
    /// A key for a new window, where the application chooses keys (without FI_MR_PROV_KEY): random, unlike any live one.
    /// On an RDM endpoint any peer of the fabric may send RMA to it, and only the key, given to the authenticated source
    /// alone, tells that source apart: a counter would be guessed.
    /// </summary>
    private ulong UnguessableKey()
    {
        ulong mask = domain.Info.KeyBytes >= 8 ? ulong.MaxValue : (1UL << (8 * domain.Info.KeyBytes)) - 1;
        while (true)
        {
            ulong key = BitConverter.ToUInt64(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8)) & mask;
            if (key >= FirstKey && !_exposed.Values.Any(exposed => exposed.Region.Key == key))
            {
                return key;
            }
        }
    }

    private void Release((FabricMemoryRegion Region, nint Address, long Length) exposed)
    {
        exposed.Region.Dispose();
        if (_lockMemory)
        {
            MemoryLock.Unlock(exposed.Address, exposed.Length);
        }
        budget.Release(exposed.Length);
        counters.Deregistered();
    }

    private static void Lock(nint address, long length)
    {
        try
        {
            MemoryLock.Lock(address, length);
        }
        catch (IOException e)
        {
            throw new FabricException($"cannot lock a window of guest RAM for the source's writes: {e.Message}", inner: e);
        }
    }
}

/// <summary>What the destination has registered over its life: thread-safe counts for its statistics.</summary>
internal sealed class DestinationCounters
{
    private long _registrations;
    private long _deregistrations;

    public long Registrations => Interlocked.Read(ref _registrations);
    public long Deregistrations => Interlocked.Read(ref _deregistrations);

    public void Registered() => Interlocked.Increment(ref _registrations);
    public void Deregistered() => Interlocked.Increment(ref _deregistrations);
}
