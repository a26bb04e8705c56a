using System.Text.Json.Nodes;

namespace RdmaCs.Qemu;

/// <summary>
/// The page-writer guest as seen through one QEMU's QMP: its run state and memory. Shared by the QEMUs the tests start
/// themselves (<see cref="QemuMachine"/>) and those libvirt starts (through a QMP socket of their own).
/// </summary>
/// <param name="qmp">The QEMU's monitor, closed when this is disposed.</param>
/// <param name="scratchFolder">Where QEMU may write memory dumps (pmemsave), and this process read them.</param>
/// <param name="memoryBytes">The guest's RAM size.</param>
public sealed class GuestMonitor(QmpClient qmp, string scratchFolder, long memoryBytes) : IDisposable
{
    public QmpClient Qmp { get; } = qmp;
    public long MemoryBytes { get; } = memoryBytes;

    /// <summary>The run state QEMU reports ("running", "paused", "postmigrate", ...).</summary>
    public string RunState => (string)Qmp.Execute("query-status")!["status"]!;

    /// <summary>Guest-physical memory [0, <see cref="MemoryBytes"/>) as QEMU has it (pmemsave; below the PCI hole).</summary>
    public byte[] ReadMemory() => ReadMemory(0, MemoryBytes);

    /// <summary>Guest-physical memory [<paramref name="address"/>, + <paramref name="bytes"/>).</summary>
    public byte[] ReadMemory(long address, long bytes)
    {
        string file = Path.Combine(scratchFolder, $"memory-{Environment.ProcessId}-{Guid.NewGuid():N}.bin");
        Qmp.Execute("pmemsave", new JsonObject { ["val"] = address, ["size"] = bytes, ["filename"] = file });
        byte[] memory = File.ReadAllBytes(file);
        File.Delete(file);
        return memory;
    }

    /// <summary>Whether the guest is running and still rewriting its pages (the generation at 1 MiB moves on).</summary>
    public bool GuestIsWorking(TimeSpan within)
    {
        if (RunState != "running")
        {
            return false;
        }
        const long throughFirstPage = 0x100000 + 4096; // the guest's first page, at 1 MiB
        uint first = GuestMemory.FirstGeneration(ReadMemory(0, throughFirstPage));
        DateTime deadline = DateTime.UtcNow + within;
        while (DateTime.UtcNow < deadline)
        {
            Thread.Sleep(100);
            if (GuestMemory.FirstGeneration(ReadMemory(0, throughFirstPage)) != first)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Waits until the guest has written all of its RAM at least once (its first page holds generation 2, so sweep 1
    /// is done): before that, RAM above where the first sweep has reached still holds the firmware's tables, which a
    /// check of whole pages would count as torn. False when <paramref name="within"/> passed first.
    /// </summary>
    public bool WaitForFirstSweep(TimeSpan within)
    {
        const long throughFirstPage = 0x100000 + 4096;
        DateTime deadline = DateTime.UtcNow + within;
        while (GuestMemory.FirstGeneration(ReadMemory(0, throughFirstPage)) < 2)
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }
            Thread.Sleep(100);
        }
        return true;
    }

    /// <summary>Runs an HMP command through QMP; returns what it printed.</summary>
    public string Hmp(string commandLine) => (string)Qmp.Execute("human-monitor-command", new JsonObject { ["command-line"] = commandLine })!;

    public void Dispose() => Qmp.Dispose();
}
