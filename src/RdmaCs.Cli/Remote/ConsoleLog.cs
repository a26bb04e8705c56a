using RdmaCs.Transfer;

namespace RdmaCs.Cli.Remote;

/// <summary>The engine's and the sessions' log lines, on standard error, so standard output stays the result.</summary>
internal static class ConsoleLog
{
    public static EngineLog Create(bool verbose = false) => (level, message) =>
    {
        if (verbose || level >= EngineLogLevel.Info)
        {
            Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss.fff}] {level.ToString().ToLowerInvariant()}: {message}");
        }
    };
}
