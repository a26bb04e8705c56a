using System.Globalization;

namespace RdmaCs.Configuration;

/// <summary>
/// Parses and prints byte counts the way operators write them: <c>4096</c>, <c>64K</c>, <c>64M</c>,
/// <c>1G</c>, <c>2T</c> (binary units; an optional trailing <c>B</c> or <c>iB</c> is accepted).
/// </summary>
public static class ByteSize
{
    private static readonly (string Suffix, int Shift)[] Units =
    [
        ("KIB", 10), ("MIB", 20), ("GIB", 30), ("TIB", 40),
        ("KB", 10), ("MB", 20), ("GB", 30), ("TB", 40),
        ("K", 10), ("M", 20), ("G", 30), ("T", 40),
        ("B", 0),
    ];

    /// <summary>Parses <paramref name="text"/>; throws <see cref="FormatException"/> naming the bad input.</summary>
    public static long Parse(string text)
    {
        if (TryParse(text, out long bytes, out string? error))
        {
            return bytes;
        }
        throw new FormatException(error);
    }

    public static bool TryParse(string? text, out long bytes, out string? error)
    {
        bytes = 0;
        string trimmed = (text ?? "").Trim();
        if (trimmed.Length == 0)
        {
            error = "a size is required (for example 4096, 64K, 64M or 1G)";
            return false;
        }

        string upper = trimmed.ToUpperInvariant();
        int shift = 0;
        string digits = upper;
        foreach ((string suffix, int unitShift) in Units)
        {
            if (upper.EndsWith(suffix, StringComparison.Ordinal))
            {
                shift = unitShift;
                digits = upper[..^suffix.Length].TrimEnd();
                break;
            }
        }

        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long count))
        {
            error = $"'{trimmed}' is not a size: use a whole number with an optional unit K, M, G or T (for example 64M)";
            return false;
        }
        if (count > (long.MaxValue >> shift))
        {
            error = $"'{trimmed}' is too large";
            return false;
        }

        bytes = count << shift;
        error = null;
        return true;
    }

    /// <summary>Formats <paramref name="bytes"/> with the largest binary unit that divides it exactly (64M, 1G, 4097).</summary>
    public static string Format(long bytes)
    {
        if (bytes == 0)
        {
            return "0";
        }
        foreach ((string suffix, int shift) in new[] { ("T", 40), ("G", 30), ("M", 20), ("K", 10) })
        {
            long unit = 1L << shift;
            if (bytes % unit == 0)
            {
                return $"{(bytes >> shift).ToString(CultureInfo.InvariantCulture)}{suffix}";
            }
        }
        return bytes.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Formats <paramref name="bytes"/> approximately for humans (12.3 MiB).</summary>
    public static string FormatApproximate(double bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        int unit = 0;
        while (Math.Abs(bytes) >= 1024 && unit < units.Length - 1)
        {
            bytes /= 1024;
            unit++;
        }
        return unit == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes:0} {units[unit]}")
            : string.Create(CultureInfo.InvariantCulture, $"{bytes:0.0} {units[unit]}");
    }
}
