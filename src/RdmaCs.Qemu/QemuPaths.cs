namespace RdmaCs.Qemu;

/// <summary>Where the checkout's builds put the patched QEMU, the rdma-cs plugin and the test guest.</summary>
public static class QemuPaths
{
    private static string? _root;

    /// <summary>The checkout's root: $RDMACS_ROOT, else the nearest folder above this program that holds Plugin.sln.</summary>
    public static string Root => _root ??= FindRoot();

    public static string Binary => Path.Combine(Root, "build/qemu/qemu-system-x86_64");

    /// <summary>The shim QEMU loads (the engine, librdmacs-engine.so, is beside it).</summary>
    public static string Plugin => Path.Combine(Root, "build/cmake/librdmacs-qemu.so");

    /// <summary>The page-writer boot sector (tests/guest/pagewriter.s).</summary>
    public static string Guest => Path.Combine(Root, "build/cmake/pagewriter.img");

    /// <summary>The kernel of the Linux test guest (scripts/fetch-linux-kernel.sh takes it out of Debian's package).</summary>
    public static string LinuxKernel => Path.Combine(Root, "build/linux/vmlinuz");

    /// <summary>The Linux test guest's init program (tests/guest/memcheck-init.c), static.</summary>
    public static string MemcheckInit => Path.Combine(Root, "build/cmake/memcheck-init");

    /// <summary>Throws, saying which build step to run, when something QEMU or <paramref name="guest"/> needs is missing.</summary>
    public static void RequireBuilt(GuestImage? guest = null)
    {
        IEnumerable<(string File, string BuiltBy)> required =
            [(Binary, "scripts/build-qemu.sh"), (Plugin, "scripts/build-native.sh"), .. (guest ?? GuestLoad.AllMemory).RequiredFiles];
        foreach ((string file, string builtBy) in required)
        {
            if (!File.Exists(file))
            {
                throw new FileNotFoundException($"{file} is not built: run {builtBy} (scripts/test.sh runs every build step)", file);
            }
        }
    }

    private static string FindRoot()
    {
        if (Environment.GetEnvironmentVariable("RDMACS_ROOT") is { Length: > 0 } root)
        {
            return root;
        }
        for (DirectoryInfo? folder = new(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "Plugin.sln")))
            {
                return folder.FullName;
            }
        }
        throw new DirectoryNotFoundException($"no Plugin.sln above {AppContext.BaseDirectory}: set RDMACS_ROOT to the checkout");
    }
}
