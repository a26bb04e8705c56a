using System.Globalization;

namespace RdmaCs.Libvirt;

/// <summary>What <c>virsh domjobinfo</c> printed: "Name: value" lines.</summary>
public sealed class DomainJobInfo
{
    private readonly Dictionary<string, string> _fields;

    private DomainJobInfo(Dictionary<string, string> fields) => _fields = fields;

    public static DomainJobInfo Parse(string output) =>
        new(output.Split('\n')
            .Select(line => line.Split(':', 2))
            .Where(parts => parts.Length == 2 && parts[0].Trim().Length > 0)
            .ToDictionary(parts => parts[0].Trim(), parts => parts[1].Trim()));

    /// <summary>"None", "Unbounded" (running), "Completed", "Failed", ...</summary>
    public string JobType => this["Job type"] ?? "";

    public string? this[string field] => _fields.GetValueOrDefault(field);

    /// <summary>"Memory processed" in bytes (0 when not reported yet).</summary>
    public long MemoryProcessedBytes => Bytes("Memory processed");

    /// <summary>"Memory total" in bytes (0 when not reported yet).</summary>
    public long MemoryTotalBytes => Bytes("Memory total");

    /// <summary>A size field ("712.141 MiB") in bytes, 0 when absent.</summary>
    public long Bytes(string field)
    {
        if (this[field] is not { } text)
        {
            return 0;
        }
        string[] parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        double value = double.Parse(parts[0], CultureInfo.InvariantCulture);
        int power = parts.Length > 1 ? Array.IndexOf(["B", "KiB", "MiB", "GiB", "TiB"], parts[1]) : 0;
        return power < 0 ? throw new FormatException($"unknown unit in {field}: {text}") : (long)(value * Math.Pow(1024, power));
    }

    /// <summary>A time field ("3035 ms") in milliseconds, 0 when absent.</summary>
    public long Milliseconds(string field) =>
        this[field] is { } text ? long.Parse(text.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0], CultureInfo.InvariantCulture) : 0;

    public override string ToString() => string.Join(", ", _fields.Select(f => $"{f.Key}: {f.Value}"));
}
