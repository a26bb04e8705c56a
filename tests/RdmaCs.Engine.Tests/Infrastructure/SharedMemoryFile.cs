using System.Runtime.InteropServices;

namespace RdmaCs.Tests.Infrastructure;

/// <summary>
/// A memfd (or a file) mapped MAP_SHARED, as QEMU maps guest RAM with <c>share=on</c>; <see cref="MapAgain"/> gives a
/// second mapping of the same pages, as a vhost-user backend has: writes through it never touch the first mapping's
/// page tables.
/// </summary>
internal sealed unsafe partial class SharedMemoryFile : IDisposable
{
    private const int ProtRead = 1, ProtWrite = 2, MapShared = 1;
    private readonly List<(nint Address, long Length)> _mappings = [];
    private readonly int _fd;

    public SharedMemoryFile(long length, string? path = null)
    {
        Length = length;
        _fd = path is null ? memfd_create("rdmacs-test", 0) : open(path, 0x42 /* O_RDWR | O_CREAT */, 0x180 /* 0600 */);
        if (_fd < 0 || ftruncate(_fd, length) != 0)
        {
            throw new IOException($"shared memory file: errno {Marshal.GetLastPInvokeError()}");
        }
        Address = MapAgain();
    }

    public long Length { get; }

    /// <summary>The first mapping: the one "QEMU" has.</summary>
    public nint Address { get; }

    /// <summary>Another mapping of the same pages.</summary>
    public nint MapAgain()
    {
        nint address = mmap(0, (nuint)Length, ProtRead | ProtWrite, MapShared, _fd, 0);
        if (address == -1)
        {
            throw new IOException($"mmap: errno {Marshal.GetLastPInvokeError()}");
        }
        _mappings.Add((address, Length));
        return address;
    }

    public void Dispose()
    {
        foreach ((nint address, long length) in _mappings)
        {
            munmap(address, (nuint)length);
        }
        close(_fd);
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int memfd_create(string name, uint flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags, int mode);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int ftruncate(int fd, long length);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint mmap(nint address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport("libc")]
    private static partial int munmap(nint address, nuint length);

    [LibraryImport("libc")]
    private static partial int close(int fd);
}
