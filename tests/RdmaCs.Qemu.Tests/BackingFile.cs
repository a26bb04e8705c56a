using System.Runtime.InteropServices;

namespace RdmaCs.Qemu.Tests;

/// <summary>
/// A mapping of a QEMU's guest RAM backing file of the tests' own (MAP_SHARED), as a vhost-user backend or virtiofsd
/// has: what is written through it reaches guest RAM without QEMU's page tables or dirty log seeing it.
/// </summary>
internal sealed unsafe partial class BackingFile : IDisposable
{
    private readonly nint _address;

    /// <param name="path">The file: a path on /dev/shm, or /proc/PID/fd/N for QEMU's memfd.</param>
    public BackingFile(string path, long length)
    {
        Length = length;
        int fd = open(path, 2 /* O_RDWR */);
        if (fd < 0)
        {
            throw new IOException($"open {path}: errno {Marshal.GetLastPInvokeError()}");
        }
        _address = mmap(0, (nuint)length, 3 /* PROT_READ | PROT_WRITE */, 1 /* MAP_SHARED */, fd, 0);
        close(fd);
        if (_address == -1)
        {
            throw new IOException($"mmap {path}: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    public long Length { get; }

    public Span<byte> Slice(long offset, int length) => new((void*)(_address + (nint)offset), length);

    /// <summary>The fd QEMU <paramref name="pid"/> holds for its memfd named <paramref name="name"/> (as /proc/PID/fd/N).</summary>
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
        throw new InvalidOperationException($"QEMU {pid} holds no memfd named {name}");
    }

    /// <summary>Creates (or empties) a file of <paramref name="length"/> bytes, every byte <paramref name="fill"/>.</summary>
    public static void Create(string path, long length, byte fill)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        var chunk = new byte[1 << 20];
        Array.Fill(chunk, fill);
        for (long written = 0; written < length; written += chunk.Length)
        {
            stream.Write(chunk, 0, (int)Math.Min(chunk.Length, length - written));
        }
    }

    public void Dispose() => munmap(_address, (nuint)Length);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint mmap(nint address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport("libc")]
    private static partial int munmap(nint address, nuint length);

    [LibraryImport("libc")]
    private static partial int close(int fd);
}
