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

    /// <summary>Throws, saying which build step to run, when something is missing.</summary>
    public static void RequireBuilt()
    {
        foreach (string required in new[] { Binary, Plugin, Guest })
        {
            if (!File.Exists(required))
            {
                throw new FileNotFoundException(
                    $"{required} is not built: run scripts/build-native.sh and scripts/build-qemu.sh (scripts/test.sh runs both)", required);
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
