using System.Runtime.InteropServices;

namespace RdmaCs.Fabric.LibFabric;

/// <summary>
/// Contexts for providers that keep state of their own in each operation's context (modes FI_CONTEXT and FI_CONTEXT2:
/// efa, among others): the context libfabric is given then points at a <c>struct fi_context2</c> the provider may write
/// until the operation completes, and rdma-cs's own context (a number) travels beside it. Entries come from native
/// chunks that never move and are reused once their operation has completed.
/// </summary>
internal sealed unsafe class OperationContexts : IDisposable
{
    /// <summary>sizeof(struct fi_context2): eight pointers, for the provider.</summary>
    private const int ProviderBytes = 64;
    private const int EntryBytes = ProviderBytes + sizeof(ulong);
    private const int EntriesPerChunk = 256;

    private readonly object _lock = new();
    private readonly Stack<nint> _free = new();
    private readonly List<nint> _chunks = [];

    /// <summary>An entry carrying <paramref name="context"/>, for one operation; <see cref="Return"/> it once it has completed (or was not posted).</summary>
    public void* Take(ulong context)
    {
        nint entry;
        lock (_lock)
        {
            if (_free.Count == 0)
            {
                nint chunk = (nint)NativeMemory.AllocZeroed(EntriesPerChunk * EntryBytes);
                _chunks.Add(chunk);
                for (int i = EntriesPerChunk - 1; i >= 0; i--)
                {
                    _free.Push(chunk + i * EntryBytes);
                }
            }
            entry = _free.Pop();
        }
        NativeMemory.Clear((void*)entry, ProviderBytes);
        *(ulong*)(entry + ProviderBytes) = context;
        return (void*)entry;
    }

    /// <summary>The context <paramref name="entry"/> carried; the entry is free again.</summary>
    public ulong Return(void* entry)
    {
        ulong context = *(ulong*)((byte*)entry + ProviderBytes);
        lock (_lock)
        {
            _free.Push((nint)entry);
        }
        return context;
    }

    /// <summary>Frees every entry: only once the endpoint is closed (no operation can complete any more).</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _chunks.ForEach(chunk => NativeMemory.Free((void*)chunk));
            _chunks.Clear();
            _free.Clear();
        }
    }
}
