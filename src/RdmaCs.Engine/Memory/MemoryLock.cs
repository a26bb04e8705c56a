using System.Runtime.InteropServices;

namespace RdmaCs.Memory;

/// <summary>
/// <c>mlock</c>/<c>munlock</c>: what registration does to memory on an RDMA NIC, done by hand on fabrics that
/// pin nothing (tcp, in-memory), so that the budget is real and shows up in <c>VmLck</c>.
/// </summary>
public static partial class MemoryLock
{
    /// <summary>Locks [address, address + length) into RAM; throws with the errno text when the kernel refuses.</summary>
    public static void Lock(nint address, long length)
    {
        if (mlock(address, (nuint)length) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new IOException(
                $"mlock of {length} bytes at 0x{address:x} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})" +
                (errno == 12 ? "; check RLIMIT_MEMLOCK (ulimit -l) and vm.max_map_count" : ""));
        }
    }

    /// <summary>Unlocks [address, address + length); throws with the errno text on failure.</summary>
    public static void Unlock(nint address, long length)
    {
        if (munlock(address, (nuint)length) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new IOException(
                $"munlock of {length} bytes at 0x{address:x} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
    }

    [LibraryImport("libc", EntryPoint = "mlock", SetLastError = true)]
    private static partial int mlock(nint address, nuint length);

    [LibraryImport("libc", EntryPoint = "munlock", SetLastError = true)]
    private static partial int munlock(nint address, nuint length);
}
