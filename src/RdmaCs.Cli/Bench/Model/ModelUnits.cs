using System.Globalization;
using System.Text.RegularExpressions;

namespace RdmaCs.Cli.Bench.Model;

/// <summary>The model's command-line quantities: link rates (<c>100G</c>), times (<c>3us</c>) and costs per MiB (<c>90us/MiB</c>).</summary>
internal static partial class ModelUnits
{
    /// <summary>A link rate in bits per second: a number with K, M, G or T (decimal), optionally followed by "b", "bps" or "bit/s".</summary>
    public static bool TryParseRate(string text, out double bitsPerSecond, out string? error)
    {
        Match match = Rate().Match(text.Trim());
        bitsPerSecond = 0;
        if (!match.Success || !double.TryParse(match.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double number) || number <= 0)
        {
            error = $"'{text}' is not a link rate (e.g. 25G, 100G, 400Gbps)";
            return false;
        }
        bitsPerSecond = number * match.Groups[2].Value.ToUpperInvariant() switch { "K" => 1e3, "M" => 1e6, "G" => 1e9, "T" => 1e12, _ => 1 };
        error = null;
        return true;
    }

    /// <summary>A time: a number with ns, us (or µs), ms or s.</summary>
    public static bool TryParseTime(string text, out TimeSpan time, out string? error)
    {
        Match match = Time().Match(text.Trim());
        time = TimeSpan.Zero;
        if (!match.Success || !double.TryParse(match.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double number) || number < 0)
        {
            error = $"'{text}' is not a time (e.g. 3us, 0.5ms)";
            return false;
        }
        double seconds = number * match.Groups[2].Value switch { "ns" => 1e-9, "us" or "µs" => 1e-6, "ms" => 1e-3, _ => 1 };
        time = TimeSpan.FromTicks((long)Math.Round(seconds * TimeSpan.TicksPerSecond));
        error = null;
        return true;
    }

    /// <summary>A cost per MiB: a time, optionally followed by "/MiB" (e.g. 90us/MiB).</summary>
    public static bool TryParseCostPerMiB(string text, out TimeSpan time, out string? error)
    {
        string trimmed = text.Trim();
        if (trimmed.EndsWith("/MiB", StringComparison.OrdinalIgnoreCase))
        {
            trimmed = trimmed[..^4];
        }
        return TryParseTime(trimmed, out time, out error);
    }

    public static string FormatRate(double bitsPerSecond) => $"{bitsPerSecond / 1e9:0.##}G";

    [GeneratedRegex(@"^([0-9]*\.?[0-9]+)\s*([KMGT]?)(b|bps|bit/s)?$", RegexOptions.IgnoreCase)]
    private static partial Regex Rate();

    [GeneratedRegex(@"^([0-9]*\.?[0-9]+)\s*(ns|us|µs|ms|s)$")]
    private static partial Regex Time();
}
