using System.Globalization;

namespace RdmaCs.Memory;

/// <summary>Reads what the kernel says about a process's memory: the outside view of the budget.</summary>
public static class ProcessMemoryStatus
{
    /// <summary>Locked bytes (<c>VmLck</c> in <c>/proc/PID/status</c>) of <paramref name="pid"/>, or of this process.</summary>
    public static long ReadLockedBytes(int? pid = null)
    {
        string path = pid is null ? "/proc/self/status" : $"/proc/{pid.Value.ToString(CultureInfo.InvariantCulture)}/status";
        foreach (string line in File.ReadLines(path))
        {
            if (line.StartsWith("VmLck:", StringComparison.Ordinal))
            {
                // "VmLck:	    1024 kB"
                string[] parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                return long.Parse(parts[1], CultureInfo.InvariantCulture) * 1024;
            }
        }
        throw new InvalidDataException($"{path} has no VmLck line");
    }
}
