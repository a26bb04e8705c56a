using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using RdmaCs.Qemu;

namespace RdmaCs.Libvirt;

/// <summary>
/// One libvirt "host" on this machine: the patched libvirtd (build tree) in a mount namespace of its own, where a
/// private folder is bound over each of libvirt's system folders (/etc/libvirt, /run/libvirt, /var/lib/libvirt,
/// /var/cache/libvirt, /var/log/libvirt), with a host UUID of its own, so that two of them can migrate domains to
/// each other. QEMUs it starts live in the same namespace. Disposing kills every process of the namespace.
/// </summary>
public sealed partial class LibvirtHost : IDisposable
{
    /// <summary>libvirt's folders, each with the folder of this host's own that is bound over it.</summary>
    private static readonly (string System, string Own)[] Folders =
    [
        ("/etc/libvirt", "etc"), ("/run/libvirt", "run"), ("/var/lib/libvirt", "lib"), ("/var/cache/libvirt", "cache"),
        ("/var/log/libvirt", "log"),
    ];

    /// <summary>
    /// The domains' emulator: a wrapper script at the same path on every host (under /var/lib/libvirt, so each host
    /// has its own), which runs the host's QEMU.
    /// </summary>
    public const string Emulator = "/var/lib/libvirt/rdmacs/qemu-system-x86_64";

    private const int SigKill = 9, SigCont = 18, SigStop = 19, SigTerm = 15;

    private readonly Process _daemon;
    private readonly string _namespace;
    private readonly List<string> _daemonOutput = [];

    private LibvirtHost(string name, int number, HostQemu qemu, string qemuUser)
    {
        LibvirtPaths.RequireBuilt();
        Name = name;
        Qemu = qemu;
        QemuUser = qemuUser;
        Folder = Directory.CreateTempSubdirectory($"rdmacs-libvirt-{name}-").FullName;
        foreach ((string system, string own) in Folders)
        {
            Directory.CreateDirectory(system); // the mount point; a machine without libvirt installed has none
            Directory.CreateDirectory(Path.Combine(Folder, own));
        }
        Directory.CreateDirectory(Path.Combine(Folder, "log/qemu"));
        Directory.CreateDirectory(Path.Combine(Folder, "lib/rdmacs"));
        Directory.CreateDirectory(ScratchFolder);
        WriteConfiguration(number);
        WriteEmulator(qemu);
        if (qemuUser != "root")
        {
            AllowQemuUser();
        }

        string binds = string.Join(" && ", Folders.Select(f => $"mount --bind '{Path.Combine(Folder, f.Own)}' '{f.System}'"));
        var start = new ProcessStartInfo("unshare")
        {
            RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false,
        };
        foreach (string argument in new[]
                 {
                     "--mount", "--propagation", "private", "sh", "-c",
                     $"{binds} && exec '{LibvirtPaths.Daemon}' --config /etc/libvirt/libvirtd.conf --pid-file /run/libvirt/libvirtd.pid",
                 })
        {
            start.ArgumentList.Add(argument);
        }
        LibvirtPaths.SetBuildTreeEnvironment(start);
        _daemon = Process.Start(start)!; // unshare and sh exec: this is libvirtd
        _daemon.ErrorDataReceived += (_, e) => Collect(e.Data);
        _daemon.OutputDataReceived += (_, e) => Collect(e.Data);
        _daemon.BeginErrorReadLine();
        _daemon.BeginOutputReadLine();
        try
        {
            _namespace = WaitForDaemon(TimeSpan.FromSeconds(90));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>
    /// Starts host <paramref name="name"/>; <paramref name="number"/> makes its host UUID (unique per machine). QEMU
    /// runs as root, keeping CAP_IPC_LOCK, unless <paramref name="qemuUser"/> names libvirt's unprivileged user.
    /// </summary>
    public static LibvirtHost Start(string name, int number, HostQemu qemu = HostQemu.Patched, string qemuUser = "root") =>
        new(name, number, qemu, qemuUser);

    public string Name { get; }
    public HostQemu Qemu { get; }

    /// <summary>The user QEMU runs as (qemu.conf's user and group).</summary>
    public string QemuUser { get; }

    /// <summary>This host's private folder (etc, run, lib, cache, log inside).</summary>
    public string Folder { get; }

    /// <summary>The connection URI, for virsh -c and as a peer-to-peer migration's destination.</summary>
    public string Uri => $"qemu+unix:///system?socket={Path.Combine(Folder, "run/libvirt-sock")}";

    public int DaemonPid => _daemon.Id;

    /// <summary>A folder both this process and the host's QEMUs see under the same path (memory dumps).</summary>
    public string ScratchFolder => Path.Combine(Folder, "scratch");

    /// <summary>The last lines of libvirtd's log (debug for migration and QMP), for failure messages.</summary>
    public string DaemonLog(int lines = 40) => Tail(Path.Combine(Folder, "log/libvirtd.log"), lines);

    /// <summary>The last lines of a domain's QEMU log (its command line and stderr).</summary>
    public string QemuLog(string domain, int lines = 20) => Tail(Path.Combine(Folder, $"log/qemu/{domain}.log"), lines);

    /// <summary>Runs virsh against this host; throws TimeoutException (virsh killed) after <paramref name="timeout"/>.</summary>
    public VirshResult Virsh(TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo(LibvirtPaths.Virsh)
        {
            RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(Uri);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        LibvirtPaths.SetBuildTreeEnvironment(start);
        using Process virsh = Process.Start(start)!;
        Task<string> output = virsh.StandardOutput.ReadToEndAsync();
        Task<string> error = virsh.StandardError.ReadToEndAsync();
        if (!virsh.WaitForExit(timeout))
        {
            virsh.Kill();
            virsh.WaitForExit();
            throw new TimeoutException($"virsh {string.Join(' ', arguments)} on {Name} took over {timeout.TotalSeconds:0} s: {output.Result}{error.Result}");
        }
        virsh.WaitForExit();
        return new VirshResult(virsh.ExitCode, output.Result, error.Result);
    }

    /// <summary>Runs virsh with a one-minute timeout.</summary>
    public VirshResult Virsh(params string[] arguments) => Virsh(TimeSpan.FromMinutes(1), arguments);

    /// <summary>Runs virsh; throws with what it printed, and libvirtd's log, when it fails.</summary>
    public string VirshOrThrow(params string[] arguments)
    {
        VirshResult result = Virsh(arguments);
        return result.Succeeded
            ? result.Output
            : throw new InvalidOperationException($"virsh {string.Join(' ', arguments)} on {Name}: {result}\n{DaemonLog()}");
    }

    /// <summary>Defines and starts <paramref name="domain"/>.</summary>
    public void StartDomain(TestDomain domain)
    {
        string file = Path.Combine(ScratchFolder, $"{domain.Name}.xml");
        File.WriteAllText(file, domain.Xml);
        VirshOrThrow("define", file);
        VirshOrThrow("start", domain.Name);
    }

    /// <summary>Where this host's QEMU writes the serial console of <paramref name="domain"/> (a <see cref="LinuxDomain"/>).</summary>
    public string ConsoleLog(string domain) => Path.Combine(Folder, "lib/rdmacs", $"{domain}.console");

    /// <summary>The state virsh reports ("running", "paused", "shut off"), or null when the host has no such domain.</summary>
    public string? DomainState(string domain)
    {
        VirshResult result = Virsh("domstate", domain);
        return result.Succeeded ? result.Output.Trim() : null;
    }

    /// <summary>The pid of a running domain's QEMU (libvirt's pid file), or null.</summary>
    public int? QemuPid(string domain)
    {
        string file = Path.Combine(Folder, $"run/qemu/{domain}.pid");
        return File.Exists(file) && int.TryParse(File.ReadAllText(file).Trim(), CultureInfo.InvariantCulture, out int pid) &&
               Directory.Exists($"/proc/{pid}")
            ? pid
            : null;
    }

    /// <summary>
    /// The guest of a running domain, through the QMP socket of its own that <see cref="TestDomain"/> gives QEMU beside
    /// libvirt's monitor.
    /// </summary>
    public GuestMonitor Monitor(TestDomain domain)
    {
        string socket = Path.Combine(Folder, "lib/rdmacs", $"{domain.Name}.qmp");
        var qmp = QmpClient.Connect(socket, TimeSpan.FromSeconds(30), () => QemuPid(domain.Name) is null ? $"{domain.Name} is not running on {Name}" : null);
        return new GuestMonitor(qmp, ScratchFolder, domain.MemoryBytes);
    }

    /// <summary>
    /// Stops libvirtd (SIGSTOP) until the result is disposed: whatever it was about to do to its QEMUs waits, which lets
    /// a test look at a source QEMU that libvirt would kill the moment its migration completes.
    /// </summary>
    public IDisposable Freeze()
    {
        Signal(DaemonPid, SigStop);
        return new Thaw(this);
    }

    private sealed class Thaw(LibvirtHost host) : IDisposable
    {
        public void Dispose() => Signal(host.DaemonPid, SigCont);
    }

    public void Dispose()
    {
        if (_namespace is not null)
        {
            // QEMUs are daemonised by libvirtd (not its children) but share its mount namespace.
            foreach (int pid in ProcessesIn(_namespace).Where(pid => pid != DaemonPid))
            {
                Signal(pid, SigKill);
            }
        }
        if (!_daemon.HasExited)
        {
            Signal(DaemonPid, SigCont); // in case a test left it frozen
            Signal(DaemonPid, SigTerm);
            if (!_daemon.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                _daemon.Kill();
            }
            _daemon.WaitForExit();
        }
        _daemon.Dispose();
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void WriteConfiguration(int number)
    {
        File.WriteAllText(Path.Combine(Folder, "etc/libvirtd.conf"), $"""
            # rdma-cs test host {Name}: no polkit, no systemd; the UUID tells the hosts apart (migration refuses the same host)
            auth_unix_ro = "none"
            auth_unix_rw = "none"
            unix_sock_group = "root"
            unix_sock_rw_perms = "0770"
            host_uuid = "{number:x8}-0000-4000-8000-{number:x12}"
            log_filters = "1:qemu.qemu_migration 1:qemu.qemu_monitor 3:*"
            log_outputs = "1:file:/var/log/libvirt/libvirtd.log"
            """);
        // QEMU as root keeps CAP_IPC_LOCK, so it may pin the budget even when libvirtd (without CAP_SYS_RESOURCE, as on
        // these machines) cannot raise its RLIMIT_MEMLOCK; as libvirt-qemu it may pin only up to that limit. No
        // virtlogd (stdio to files), no cgroups shared between the hosts.
        File.WriteAllText(Path.Combine(Folder, "etc/qemu.conf"), $"""
            user = "{QemuUser}"
            group = "{QemuUser}"
            stdio_handler = "file"
            cgroup_controllers = [ ]
            """);
    }

    private void WriteEmulator(HostQemu qemu)
    {
        string command = qemu == HostQemu.Patched
            ? $"'{QemuPaths.Binary}' -L /usr/share/seabios -L /usr/share/qemu -global migration.rdma-cs-plugin='{QemuPaths.Plugin}'"
            : LibvirtPaths.StockQemu;
        if (qemu == HostQemu.Stock && !File.Exists(LibvirtPaths.StockQemu))
        {
            throw new FileNotFoundException($"{LibvirtPaths.StockQemu} is missing: scripts/build-libvirt.sh installs Debian's qemu-system-x86");
        }
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("libvirt hosts run on Linux (mount namespaces)");
        }
        string wrapper = Path.Combine(Folder, "lib/rdmacs/qemu-system-x86_64");
        File.WriteAllText(wrapper, $"#!/bin/sh\n# {Name}'s QEMU ({qemu})\nexec {command} \"$@\"\n");
        File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                                      UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
    }

    /// <summary>
    /// Lets an unprivileged QEMU reach its emulator wrapper, create its QMP socket and write memory dumps: the host's
    /// folder is the caller's private temporary folder otherwise.
    /// </summary>
    private void AllowQemuUser()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("libvirt hosts run on Linux (mount namespaces)");
        }
        const UnixFileMode traverse = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                                      UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
        const UnixFileMode shared = traverse | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite | UnixFileMode.StickyBit;
        File.SetUnixFileMode(Folder, traverse);
        File.SetUnixFileMode(Path.Combine(Folder, "lib"), traverse);
        File.SetUnixFileMode(Path.Combine(Folder, "lib/rdmacs"), shared);
        File.SetUnixFileMode(ScratchFolder, shared);
    }

    /// <summary>Waits until virsh gets an answer; returns libvirtd's mount namespace.</summary>
    private string WaitForDaemon(TimeSpan timeout)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_daemon.HasExited)
            {
                throw new InvalidOperationException($"libvirtd {Name} exited ({_daemon.ExitCode}): {string.Join('\n', _daemonOutput)}\n{DaemonLog()}");
            }
            if (File.Exists(Path.Combine(Folder, "run/libvirt-sock")) && Virsh(TimeSpan.FromSeconds(30), "version").Succeeded)
            {
                return new FileInfo($"/proc/{DaemonPid}/ns/mnt").LinkTarget
                       ?? throw new InvalidOperationException($"no mount namespace for libvirtd {Name}");
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"libvirtd {Name} did not answer within {timeout.TotalSeconds:0} s: {DaemonLog()}");
            }
            Thread.Sleep(100);
        }
    }

    private static IEnumerable<int> ProcessesIn(string mountNamespace)
    {
        foreach (string folder in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(folder), CultureInfo.InvariantCulture, out int pid))
            {
                continue;
            }
            string? target;
            try
            {
                target = new FileInfo(Path.Combine(folder, "ns/mnt")).LinkTarget; // "mnt:[inode]"
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // gone meanwhile
            }
            if (target == mountNamespace)
            {
                yield return pid;
            }
        }
    }

    private void Collect(string? line)
    {
        if (line is not null)
        {
            lock (_daemonOutput)
            {
                _daemonOutput.Add(line);
            }
        }
    }

    private static string Tail(string file, int lines) =>
        File.Exists(file) ? string.Join('\n', File.ReadLines(file).TakeLast(lines)) : $"({file} does not exist)";

    private static void Signal(int pid, int signal) => _ = Kill(pid, signal);

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);
}
