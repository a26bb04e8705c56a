using RdmaCs.Qemu;

namespace RdmaCs.Libvirt;

/// <summary>Where scripts/build-libvirt.sh puts the patched libvirt, run from its build tree.</summary>
public static class LibvirtPaths
{
    public static string BuildFolder => Path.Combine(QemuPaths.Root, "build/libvirt");
    public static string Daemon => Path.Combine(BuildFolder, "src/libvirtd");
    public static string Virsh => Path.Combine(BuildFolder, "tools/virsh");

    /// <summary>Debian's own QEMU, which has no rdma-cs: what a host without the transport runs.</summary>
    public const string StockQemu = "/usr/bin/qemu-system-x86_64";

    /// <summary>
    /// What build/libvirt/run sets so that the build tree's programs find their libraries and the daemon its driver
    /// modules (LIBVIRT_DIR_OVERRIDE), without going through that Python script on every virsh call.
    /// </summary>
    internal static void SetBuildTreeEnvironment(System.Diagnostics.ProcessStartInfo start)
    {
        start.Environment["LD_LIBRARY_PATH"] = Path.Combine(BuildFolder, "src");
        start.Environment["LIBVIRT_DIR_OVERRIDE"] = "1";
        start.Environment["abs_builddir"] = BuildFolder;
        start.Environment["abs_top_builddir"] = BuildFolder;
    }

    /// <summary>Throws, saying which build step to run, when something is missing.</summary>
    public static void RequireBuilt()
    {
        QemuPaths.RequireBuilt();
        foreach (string required in new[] { Daemon, Virsh })
        {
            if (!File.Exists(required))
            {
                throw new FileNotFoundException($"{required} is not built: run scripts/build-libvirt.sh (scripts/test.sh runs it)", required);
            }
        }
    }
}
