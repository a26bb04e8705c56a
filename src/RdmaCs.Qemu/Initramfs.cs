using System.Text;

namespace RdmaCs.Qemu;

/// <summary>
/// The Linux test guest's initramfs: a "newc" cpio archive (the format the kernel unpacks) with /init, the static
/// memcheck-init program, and /dev/console, which the kernel opens as init's standard streams. Written beside the
/// kernel in build/linux/ when missing or older than the program; no cpio tool needed.
/// </summary>
internal static class Initramfs
{
    private const int Directory = 0x4000, CharacterDevice = 0x2000, RegularFile = 0x8000;

    public static string Path => System.IO.Path.Combine(System.IO.Path.GetDirectoryName(QemuPaths.LinuxKernel)!, "memcheck-initramfs.cpio");

    /// <summary>The archive's path, written first when needed; safe when several processes ask at once.</summary>
    public static string Ensure()
    {
        string init = QemuPaths.MemcheckInit;
        if (File.Exists(Path) && File.GetLastWriteTimeUtc(Path) >= File.GetLastWriteTimeUtc(init))
        {
            return Path;
        }
        string partial = $"{Path}.{Environment.ProcessId}.{Guid.NewGuid():N}";
        using (var archive = new FileStream(partial, FileMode.CreateNew))
        {
            int inode = 1;
            Entry(archive, "dev", Directory | 0b111_101_101, inode++, [], 0, 0);
            Entry(archive, "dev/console", CharacterDevice | 0b110_000_000, inode++, [], 5, 1);
            Entry(archive, "init", RegularFile | 0b111_101_101, inode++, File.ReadAllBytes(init), 0, 0);
            Entry(archive, "TRAILER!!!", 0, 0, [], 0, 0);
        }
        File.Move(partial, Path, overwrite: true); // a reader sees the old archive or the whole new one
        return Path;
    }

    private static void Entry(Stream archive, string name, int mode, int inode, byte[] data, int deviceMajor, int deviceMinor)
    {
        byte[] nameBytes = Encoding.ASCII.GetBytes(name + "\0");
        int[] fields = [inode, mode, 0, 0, (mode & Directory) != 0 ? 2 : 1, 0, data.Length, 0, 0, deviceMajor, deviceMinor, nameBytes.Length, 0];
        var header = new StringBuilder("070701");
        foreach (int field in fields)
        {
            header.Append(field.ToString("X8"));
        }
        archive.Write(Encoding.ASCII.GetBytes(header.ToString()));
        archive.Write(nameBytes);
        Pad(archive);
        archive.Write(data);
        Pad(archive);
    }

    /// <summary>Headers and data start at multiples of 4 bytes.</summary>
    private static void Pad(Stream archive)
    {
        while (archive.Position % 4 != 0)
        {
            archive.WriteByte(0);
        }
    }
}
