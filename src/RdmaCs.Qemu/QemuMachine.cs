using System.Diagnostics;

namespace RdmaCs.Qemu;

/// <summary>
/// A patched QEMU running a test guest under TCG (the page writer, or a Linux kernel), with a QMP socket; killed on
/// dispose. A destination starts paused with <c>-incoming defer</c>, so that its migration parameters can be set before
/// it listens.
/// </summary>
public sealed partial class QemuMachine : IDisposable
{
    private readonly Process _process;
    private readonly string _folder;
    private readonly List<string> _log = [];

    private QemuMachine(string name, long memoryBytes, bool incoming, GuestImage? guest, IEnumerable<string> extraArguments,
        KernelLockLimit? lockLimit = null)
    {
        guest ??= GuestLoad.AllMemory;
        QemuPaths.RequireBuilt(guest);
        Name = name;
        MemoryBytes = memoryBytes;
        Guest = guest;
        _folder = Directory.CreateTempSubdirectory($"rdmacs-{name}-").FullName;
        // With a kernel lock limit, QEMU runs without CAP_IPC_LOCK (setpriv drops it and execs QEMU, which keeps the PID).
        var start = new ProcessStartInfo(lockLimit is null ? QemuPaths.Binary : SetprivPath)
        {
            RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false,
        };
        IEnumerable<string> launcher = lockLimit is null ? [] : ["--inh-caps", "-ipc_lock", "--bounding-set", "-ipc_lock", "--", QemuPaths.Binary];
        foreach (string argument in launcher.Concat(new[]
                 {
                     "-name", $"{name},debug-threads=on", "-L", "/usr/share/seabios", "-L", "/usr/share/qemu", "-machine", "pc,accel=tcg",
                     "-m", $"{memoryBytes >> 20}M", "-nic", "none", "-display", "none", "-monitor", "none",
                     "-global", $"migration.rdma-cs-plugin={QemuPaths.Plugin}",
                     // The plugin's informational lines (provider chosen, windows, caches) go to QEMU's trace: into LogText.
                     "-trace", "rdma_cs_log",
                     "-qmp", $"unix:{QmpPath},server=on,wait=off",
                 }).Concat(incoming ? ["-incoming", "defer", "-S"] : []).Concat(guest.QemuArguments(ConsoleLog)).Concat(extraArguments))
        {
            start.ArgumentList.Add(argument);
        }
        _process = Process.Start(start)!;
        if (lockLimit is { } limit)
        {
            try
            {
                LockedMemoryLimit.Set(_process.Id, limit.Bytes); // QEMU locks nothing before a migration
            }
            catch
            {
                _process.Kill();
                throw;
            }
        }
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (_log) { _log.Add(e.Data); } } };
        _process.OutputDataReceived += (_, _) => { };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        try
        {
            Qmp = QmpClient.Connect(QmpPath, TimeSpan.FromSeconds(30), () => _process.HasExited ? $"QEMU exited (status {_process.ExitCode}): {LogText}" : null);
            Monitor = new GuestMonitor(Qmp, _folder, memoryBytes);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Starts the guest running (default: the page writer rewriting all of its RAM).</summary>
    public static QemuMachine StartSource(string name, long memoryBytes, GuestImage? guest = null, params string[] extraArguments) =>
        new(name, memoryBytes, incoming: false, guest, extraArguments);

    /// <summary>
    /// Starts the guest running in a QEMU whose locked memory the kernel bounds: no CAP_IPC_LOCK, and RLIMIT_MEMLOCK at
    /// <paramref name="lockLimit"/>, so that pinning past it fails in the kernel whatever the plugin's accounting says.
    /// </summary>
    public static QemuMachine StartSource(string name, long memoryBytes, GuestImage? guest, KernelLockLimit lockLimit, params string[] extraArguments) =>
        new(name, memoryBytes, incoming: false, guest, extraArguments, lockLimit);

    /// <summary>A destination (page-writer guest) whose locked memory the kernel bounds; see the source's.</summary>
    public static QemuMachine StartDestination(string name, long memoryBytes, KernelLockLimit lockLimit, params string[] extraArguments) =>
        new(name, memoryBytes, incoming: true, null, extraArguments, lockLimit);

    /// <summary>Starts a paused QEMU waiting for <c>migrate-incoming</c>, set up for the page-writer guest.</summary>
    public static QemuMachine StartDestination(string name, long memoryBytes, params string[] extraArguments) =>
        new(name, memoryBytes, incoming: true, null, extraArguments);

    /// <summary>Starts a paused QEMU waiting for <c>migrate-incoming</c>, set up for <paramref name="guest"/>.</summary>
    public static QemuMachine StartDestination(string name, long memoryBytes, GuestImage guest, params string[] extraArguments) =>
        new(name, memoryBytes, incoming: true, guest, extraArguments);

    /// <summary>util-linux's setpriv, part of every Debian system.</summary>
    private const string SetprivPath = "/usr/bin/setpriv";

    public string Name { get; }
    public long MemoryBytes { get; }
    public QmpClient Qmp { get; } = null!;
    public GuestMonitor Monitor { get; } = null!;
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public string QmpPath => Path.Combine(_folder, "qmp.sock");

    /// <summary>What this QEMU was started with (a destination: what it expects to receive).</summary>
    public GuestImage Guest { get; }

    /// <summary>Where the guest's serial console goes, for guests that have one (<see cref="LinuxGuest"/>).</summary>
    public string ConsoleLog => Path.Combine(_folder, "console.log");

    /// <summary>What QEMU printed on stderr so far.</summary>
    public string LogText { get { lock (_log) { return string.Join("\n", _log); } } }

    /// <summary>The run state QEMU reports ("running", "paused", "postmigrate", ...).</summary>
    public string RunState => Monitor.RunState;

    /// <summary>Guest-physical memory [0, <see cref="MemoryBytes"/>) as QEMU has it (pmemsave; below the PCI hole).</summary>
    public byte[] ReadMemory() => Monitor.ReadMemory();

    /// <summary>Guest-physical memory [<paramref name="address"/>, + <paramref name="bytes"/>).</summary>
    public byte[] ReadMemory(long address, long bytes) => Monitor.ReadMemory(address, bytes);

    /// <summary>Whether the guest is running and still rewriting its pages (the generation at 1 MiB moves on).</summary>
    public bool GuestIsWorking(TimeSpan within) => Monitor.GuestIsWorking(within);

    /// <summary>Runs an HMP command through QMP; returns what it printed.</summary>
    public string Hmp(string commandLine) => Monitor.Hmp(commandLine);

    /// <summary>QEMU's exit status once it has exited within <paramref name="timeout"/>; null while it runs.</summary>
    public int? WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            return null;
        }
        _process.WaitForExit(); // the timed wait does not wait for the last of stderr; this one does
        return _process.ExitCode;
    }

    /// <summary>Stops every thread of QEMU (SIGSTOP): a host that stops answering without closing anything.</summary>
    public void Freeze() => Signal(19);

    /// <summary>Lets a frozen QEMU run on (SIGCONT).</summary>
    public void Thaw() => Signal(18);

    private void Signal(int signal)
    {
        if (!_process.HasExited && kill(_process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }
    }

    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);

    /// <summary>Kills QEMU at once (SIGKILL), as a crashed host would.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }
    }

    public void Dispose()
    {
        Monitor?.Dispose();
        Kill();
        _process.Dispose();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
