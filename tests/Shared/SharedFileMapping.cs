using System.Runtime.InteropServices;

namespace RdmaCs.Tests.Shared;

/// <summary>
/// A file (or memfd) mapped MAP_SHARED, as QEMU maps guest RAM with <c>share=on</c> and as a vhost-user backend or
/// virtiofsd maps the same pages: what one mapping writes, the others see, without their page tables (or QEMU's dirty
/// log) knowing. <see cref="MapAgain"/> adds a mapping of the same pages.
/// </summary>
internal sealed unsafe partial class SharedFileMapping : IDisposable
{
    private const int ProtReadWrite = 3, MapShared = 1, ReadWrite = 2, Create = 0x40;
    private readonly List<nint> _mappings = [];
    private readonly int _fd;

    private SharedFileMapping(int fd, long length, string what)
    {
        _fd = fd;
        Length = length;
        if (fd < 0)
        {
            throw new IOException($"{what}: errno {Marshal.GetLastPInvokeError()}");
        }
        Address = MapAgain();
    }

    /// <summary>A new memfd of <paramref name="length"/> bytes (zero), mapped.</summary>
    public static SharedFileMapping CreateMemfd(long length)
    {
        int fd = memfd_create("rdmacs-test", 0);
        if (fd >= 0 && ftruncate(fd, length) != 0)
        {
            throw new IOException($"ftruncate: errno {Marshal.GetLastPInvokeError()}");
        }
        return new SharedFileMapping(fd, length, "memfd_create");
    }

    /// <summary>
    /// <paramref name="path"/> mapped: a file (created, and sized, when missing), or /proc/PID/fd/N for another
    /// process's memfd (see <see cref="MemfdOf"/>).
    /// </summary>
    public static SharedFileMapping Open(string path, long length)
    {
        int fd = open(path, ReadWrite | Create, 0x180 /* 0600 */);
        if (fd >= 0 && new FileInfo(path).Length < length && ftruncate(fd, length) != 0)
        {
            throw new IOException($"ftruncate {path}: errno {Marshal.GetLastPInvokeError()}");
        }
        return new SharedFileMapping(fd, length, $"open {path}");
    }

    public long Length { get; }

    /// <summary>The first mapping.</summary>
    public nint Address { get; }

    public Span<byte> Slice(long offset, int length) => new((void*)(Address + (nint)offset), length);

    /// <summary>Another mapping of the same pages.</summary>
    public nint MapAgain()
    {
        nint address = mmap(0, (nuint)Length, ProtReadWrite, MapShared, _fd, 0);
        if (address == -1)
        {
            throw new IOException($"mmap: errno {Marshal.GetLastPInvokeError()}");
        }
        _mappings.Add(address);
        return address;
    }

    /// <summary>The fd process <paramref name="pid"/> holds for its memfd named <paramref name="name"/>, as /proc/PID/fd/N.</summary>
    public static string MemfdOf(int pid, string name)
    {
        foreach (string fd in Directory.GetFiles($"/proc/{pid}/fd"))
        {
            string? target = new FileInfo(fd).LinkTarget;
            if (target is not null && target.StartsWith($"/memfd:{name}", StringComparison.Ordinal))
            {
                return fd;
            }
        }
        throw new InvalidOperationException($"process {pid} holds no memfd named {name}");
    }

    /// <summary>Creates (or rewrites) a file of <paramref name="length"/> bytes, every byte <paramref name="fill"/>.</summary>
    public static void Fill(string path, long length, byte fill)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        var chunk = new byte[1 << 20];
        Array.Fill(chunk, fill);
        for (long written = 0; written < length; written += chunk.Length)
        {
            stream.Write(chunk, 0, (int)Math.Min(chunk.Length, length - written));
        }
    }

    public void Dispose()
    {
        _mappings.ForEach(address => munmap(address, (nuint)Length));
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
