using RdmaCs.Memory;

namespace RdmaCs.Qemu;

/// <summary>The host's memory, as the benchmarks must see it.</summary>
public static class HostMemory
{
    /// <summary>
    /// Touches <paramref name="bytes"/> of memory in huge pages once, then frees it. In a virtual machine, the first
    /// touch of memory the hypervisor has not backed yet is many times slower than any later one (measured here: a
    /// 256 MiB first touch 0.46 s, afterwards 17 ms); whichever migration happened to get such memory for its
    /// destination would lose by that alone. Memory freed here is what the next processes get.
    /// </summary>
    public static void WarmUp(long bytes)
    {
        using var buffer = new AlignedBuffer(bytes); // allocated in huge pages and zeroed: every page touched
    }
}
