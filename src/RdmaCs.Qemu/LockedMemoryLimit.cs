using System.Runtime.InteropServices;

namespace RdmaCs.Qemu;

/// <summary>A locked-memory limit the kernel enforces on a QEMU (see <see cref="QemuMachine"/>'s starters that take one).</summary>
public sealed record KernelLockLimit(long Bytes);

/// <summary>
/// The kernel as the budget's referee: a process's <c>RLIMIT_MEMLOCK</c>, set from outside (<c>prlimit(2)</c>), and
/// whether it holds <c>CAP_IPC_LOCK</c> (which would let it lock past any limit). Without <c>CAP_SYS_RESOURCE</c>
/// (these machines' root lacks it) a limit can be lowered but never raised past the hard limit (8 MiB on Debian).
/// </summary>
public static unsafe partial class LockedMemoryLimit
{
    private const int RlimitMemlock = 8;
    private const int CapIpcLock = 14;

    /// <summary>Sets both the soft and the hard <c>RLIMIT_MEMLOCK</c> of <paramref name="pid"/> to <paramref name="bytes"/>.</summary>
    public static void Set(int pid, long bytes)
    {
        var limit = new ResourceLimit { Soft = (ulong)bytes, Hard = (ulong)bytes };
        if (prlimit(pid, RlimitMemlock, &limit, null) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new IOException($"prlimit(RLIMIT_MEMLOCK = {bytes}) of process {pid} failed: {Marshal.GetPInvokeErrorMessage(errno)}" +
                (errno == 1 ? " (raising it past the hard limit takes CAP_SYS_RESOURCE)" : ""));
        }
    }

    /// <summary>The soft <c>RLIMIT_MEMLOCK</c> of <paramref name="pid"/> in bytes (long.MaxValue: unlimited).</summary>
    public static long Get(int pid)
    {
        ResourceLimit limit;
        if (prlimit(pid, RlimitMemlock, null, &limit) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new IOException($"prlimit of process {pid} failed: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        return limit.Soft > long.MaxValue ? long.MaxValue : (long)limit.Soft;
    }

    /// <summary>Whether <paramref name="pid"/> holds <c>CAP_IPC_LOCK</c> (which would let it lock past any limit).</summary>
    public static bool MayLockPastLimit(int pid)
    {
        string? line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("CapEff:", StringComparison.Ordinal));
        ulong effective = Convert.ToUInt64(line?.Split(':')[1].Trim() ?? "0", 16);
        return (effective & (1UL << CapIpcLock)) != 0;
    }

    private struct ResourceLimit
    {
        public ulong Soft;
        public ulong Hard;
    }

    [LibraryImport("libc", EntryPoint = "prlimit", SetLastError = true)]
    private static partial int prlimit(int pid, int resource, ResourceLimit* newLimit, ResourceLimit* oldLimit);
}
