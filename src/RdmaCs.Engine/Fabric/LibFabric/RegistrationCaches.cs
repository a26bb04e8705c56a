using System.Runtime.InteropServices;
using RdmaCs.Transfer;

namespace RdmaCs.Fabric.LibFabric;

/// <summary>
/// libfabric's own registration caches, turned off so that every pinned byte is one the engine counts. With a memory
/// monitor active (the default), the verbs provider sends <c>fi_mr_reg</c> through libfabric's cache, and closing the
/// region only parks it, still pinned, on the cache's LRU list (up to 1,024 regions); efa keeps a cache of its own.
/// libfabric reads these variables when it initialises its providers (the first <c>fi_getinfo</c>), so they are set
/// before that, in the process's C environment. A variable the operator set is left as it is, and the log says what
/// it means for the budget.
/// </summary>
public static partial class RegistrationCaches
{
    private sealed record Switch(string Variable, string Off, string IfOperatorKeepsIt);

    private static readonly Switch[] Switches =
    [
        new("FI_MR_CACHE_MAX_COUNT", "0", "verbs keeps that many deregistered regions pinned beyond the budget"),
        new("FI_EFA_MR_CACHE_ENABLE", "0", "efa keeps deregistered regions pinned beyond the budget"),
    ];

    private static readonly object _lock = new();
    private static bool _turnedOff;

    /// <summary>Sets each cache switch to off unless it is set already; once per process (later calls do nothing).</summary>
    public static void TurnOff()
    {
        lock (_lock)
        {
            if (_turnedOff)
            {
                return;
            }
            foreach (Switch cacheSwitch in Switches)
            {
                setenv(cacheSwitch.Variable, cacheSwitch.Off, overwrite: 0); // an operator's value stays
            }
            _turnedOff = true;
        }
    }

    /// <summary>
    /// What is in force, for the log: the variables as libfabric reads them, and for each the operator set otherwise,
    /// what that costs the budget. <paramref name="budgetHolds"/> is false when an operator's setting lets cached regions
    /// stay pinned beyond it.
    /// </summary>
    public static string Describe(out bool budgetHolds)
    {
        budgetHolds = true;
        var parts = new List<string>();
        foreach (Switch cacheSwitch in Switches)
        {
            string value = Get(cacheSwitch.Variable) ?? "(unset)";
            if (value == cacheSwitch.Off)
            {
                parts.Add($"{cacheSwitch.Variable}={value}");
            }
            else
            {
                budgetHolds = false;
                parts.Add($"{cacheSwitch.Variable}={value} as the operator set it: {cacheSwitch.IfOperatorKeepsIt}");
            }
        }
        return $"libfabric registration caches: {string.Join("; ", parts)}";
    }

    /// <summary>Logs <see cref="Describe"/> for a session's <paramref name="side"/>: a warning when the budget does not hold.</summary>
    public static void Report(EngineLog log, string side)
    {
        string caches = Describe(out bool budgetHolds);
        log(budgetHolds ? EngineLogLevel.Info : EngineLogLevel.Warning, $"{side}: {caches}");
    }

    private static string? Get(string variable) => Marshal.PtrToStringUTF8(getenv(variable));

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint getenv(string name);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);
}
