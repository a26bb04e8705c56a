using System.Diagnostics;
using RdmaCs.Libvirt;
using RdmaCs.Qemu;

namespace RdmaCs.Cli.Qemu;

/// <summary>Builds the plugin, the patched QEMU and libvirt with the repository's scripts when they are not built yet.</summary>
internal static class QemuBuild
{
    /// <summary>
    /// False (after saying why on stderr) when a build script failed. With <paramref name="guest"/> the Linux guest, its
    /// kernel is fetched too.
    /// </summary>
    public static bool Ensure(string command, GuestImage? guest = null)
    {
        if (guest is LinuxGuest && !File.Exists(QemuPaths.LinuxKernel))
        {
            Console.Error.WriteLine($"rdmacs {command}: fetching the Linux guest's kernel (scripts/fetch-linux-kernel.sh, a 70 MB download)...");
            if (!RunScript("fetch-linux-kernel.sh"))
            {
                return false;
            }
        }
        if (!File.Exists(QemuPaths.Plugin) || !File.Exists(QemuPaths.Guest) || !File.Exists(QemuPaths.MemcheckInit))
        {
            Console.Error.WriteLine($"rdmacs {command}: building the plugin (scripts/build-native.sh, about a minute)...");
            if (!RunScript("build-native.sh"))
            {
                return false;
            }
        }
        else if (StaleNativePart() is { } changed)
        {
            // Else QEMU would load the engine as it was before an edit.
            Console.Error.WriteLine($"rdmacs {command}: rebuilding the plugin ({Path.GetRelativePath(QemuPaths.Root, changed)} changed since it was built)...");
            if (!RunScript("build-native.sh"))
            {
                return false;
            }
        }
        if (!File.Exists(QemuPaths.Binary))
        {
            Console.Error.WriteLine($"rdmacs {command}: building the patched QEMU (scripts/build-qemu.sh, about 8 minutes the first time)...");
            if (!RunScript("build-qemu.sh"))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Each native part and what it is built from (as CMakeLists.txt lists it): the engine from the C# of the engine,
    /// the plugin exports and the bindings; the shim from its C and the ABI header.
    /// </summary>
    private static readonly (string Built, string[] Folders, string[] Patterns)[] NativeParts =
    [
        ("build/cmake/librdmacs-engine.so", ["src/RdmaCs.Engine", "src/RdmaCs.Native", "bindings/RdmaCs.Bindings"], ["*.cs", "*.csproj"]),
        ("build/cmake/librdmacs-qemu.so", ["shim", "include"], ["*.c", "*.h"]),
    ];

    /// <summary>A source file written after the native part built from it, or null when every part is current.</summary>
    private static string? StaleNativePart()
    {
        foreach ((string built, string[] folders, string[] patterns) in NativeParts)
        {
            string artifact = Path.Combine(QemuPaths.Root, built);
            DateTime builtAt = File.Exists(artifact) ? File.GetLastWriteTimeUtc(artifact) : DateTime.MinValue;
            string? newer = folders
                .Select(folder => Path.Combine(QemuPaths.Root, folder))
                .Where(Directory.Exists)
                .SelectMany(folder => patterns.SelectMany(pattern => Directory.EnumerateFiles(folder, pattern, SearchOption.AllDirectories)))
                .Where(file => !file.Contains("/obj/", StringComparison.Ordinal) && !file.Contains("/bin/", StringComparison.Ordinal))
                .FirstOrDefault(file => File.GetLastWriteTimeUtc(file) > builtAt);
            if (newer is not null)
            {
                return newer;
            }
        }
        return null;
    }

    /// <summary>Also the patched libvirt; false (after saying why on stderr) when a build script failed.</summary>
    public static bool EnsureLibvirt(string command)
    {
        if (!Ensure(command))
        {
            return false;
        }
        if (!File.Exists(LibvirtPaths.Daemon) || !File.Exists(LibvirtPaths.Virsh))
        {
            Console.Error.WriteLine($"rdmacs {command}: building the patched libvirt (scripts/build-libvirt.sh, about 7 minutes the first time)...");
            return RunScript("build-libvirt.sh");
        }
        return true;
    }

    private static bool RunScript(string name)
    {
        var start = new ProcessStartInfo(Path.Combine(QemuPaths.Root, "scripts", name)) { UseShellExecute = false, RedirectStandardOutput = true };
        using Process process = Process.Start(start)!;
        process.StandardOutput.ReadToEnd(); // the scripts print the path they built; their progress goes to stderr
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            Console.Error.WriteLine($"rdmacs: scripts/{name} failed (exit {process.ExitCode}); its output is above");
            return false;
        }
        return true;
    }
}
