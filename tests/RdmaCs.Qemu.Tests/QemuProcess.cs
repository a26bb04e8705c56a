using System.Diagnostics;

namespace RdmaCs.Qemu.Tests;

/// <summary>A patched QEMU running the page-writer guest under TCG, with a QMP socket; killed on dispose.</summary>
internal sealed class QemuProcess : IDisposable
{
    public static string Binary => Path.Combine(RepositoryPaths.Root, "build/qemu/qemu-system-x86_64");
    public static string Plugin => Path.Combine(RepositoryPaths.Root, "build/cmake/librdmacs-qemu.so");
    public static string Guest => Path.Combine(RepositoryPaths.Root, "build/cmake/pagewriter.img");

    private readonly Process _process;
    private readonly string _folder;

    public QemuProcess(string name, long memoryBytes, string options, params string[] extra)
    {
        foreach (string required in new[] { Binary, Plugin, Guest })
        {
            if (!File.Exists(required))
            {
                throw new FileNotFoundException($"{required} is not built: run scripts/build-native.sh and scripts/build-qemu.sh", required);
            }
        }
        _folder = Directory.CreateTempSubdirectory($"rdmacs-{name}-").FullName;
        var start = new ProcessStartInfo(Binary) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        start.Environment["QEMU_RDMA_CS_PLUGIN"] = Plugin;
        start.Environment["QEMU_RDMA_CS_OPTIONS"] = options;
        foreach (string argument in new[]
                 {
                     "-L", "/usr/share/seabios", "-L", "/usr/share/qemu", "-machine", "pc,accel=tcg", "-m", $"{memoryBytes >> 20}M",
                     "-nic", "none", "-display", "none", "-serial", "none", "-monitor", "none",
                     "-drive", $"file={Guest},format=raw,if=floppy,readonly=on",
                     "-qmp", $"unix:{QmpPath},server=on,wait=off",
                 }.Concat(extra))
        {
            start.ArgumentList.Add(argument);
        }
        _process = Process.Start(start)!;
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (Log) { Log.Add(e.Data); } } };
        _process.OutputDataReceived += (_, _) => { };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        Qmp = QmpClient.Connect(QmpPath, TimeSpan.FromSeconds(30));
    }

    public string QmpPath => Path.Combine(_folder, "qmp.sock");
    public QmpClient Qmp { get; }
    public List<string> Log { get; } = [];
    public int Pid => _process.Id;

    /// <summary>Guest-physical memory [0, bytes) as QEMU has it (pmemsave).</summary>
    public byte[] ReadMemory(long bytes)
    {
        string file = Path.Combine(_folder, "memory.bin");
        Qmp.Execute("pmemsave", new() { ["val"] = 0, ["size"] = bytes, ["filename"] = file });
        return File.ReadAllBytes(file);
    }

    public void Dispose()
    {
        Qmp.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }
        _process.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
