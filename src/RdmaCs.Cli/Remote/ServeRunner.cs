using System.Text.Json.Nodes;
using RdmaCs.Cli.Commands;
using RdmaCs.Cli.Output;
using RdmaCs.Configuration;
using RdmaCs.Memory;
using RdmaCs.Remote;
using RdmaCs.Transfer;

namespace RdmaCs.Cli.Remote;

/// <summary><c>rdmacs serve</c>: the destination of live transfers, one session after another.</summary>
internal static class ServeRunner
{
    public sealed record Settings(HostPort Listen, long SizeBytes, long BudgetBytes, string Token, string Provider, bool Once, bool Json);

    public static int Run(Settings settings)
    {
        const int PageSize = 4096;
        if (settings.SizeBytes <= 0 || settings.SizeBytes % PageSize != 0)
        {
            Console.Error.WriteLine($"rdmacs serve: --size must be a positive whole number of {PageSize}-byte pages");
            return 2;
        }
        EngineLog log = ConsoleLog.Create();
        using var memory = new AlignedBuffer(settings.SizeBytes);
        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };

        DestinationServer server;
        try
        {
            server = new DestinationServer(
                new DestinationOptions
                {
                    ListenHost = settings.Listen.Host, Port = settings.Listen.Port, Token = settings.Token, Provider = settings.Provider,
                    BudgetBytes = settings.BudgetBytes,
                },
                [new RamBlock("ram0", memory.Address, memory.Length)], PageSize, log);
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or FormatException or IOException)
        {
            Console.Error.WriteLine($"rdmacs serve: cannot listen on {settings.Listen}: {e.Message}");
            return 1;
        }
        catch (EngineConfigurationException e)
        {
            Console.Error.WriteLine($"rdmacs serve: {e.Message}");
            return 2;
        }
        using (server)
        {
            log(EngineLogLevel.Info, $"serve: listening on {settings.Listen.Host}:{server.Port} with {ByteSize.FormatApproximate(settings.SizeBytes)} of RAM (block ram0)");
            while (!stop.IsCancellationRequested)
            {
                DestinationSessionResult result;
                try
                {
                    result = server.ServeOne(stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                long locked = ProcessMemoryStatus.ReadLockedBytes();
                Print(result, server.Statistics, locked, settings.Json);
                if (settings.Once)
                {
                    return result.Verified ? 0 : 1;
                }
            }
        }
        return 0;
    }

    private static void Print(DestinationSessionResult result, DestinationStatistics pinned, long lockedBytes, bool json)
    {
        if (json)
        {
            Console.Out.WriteLine(new JsonObject
            {
                ["peer"] = result.Peer,
                ["verified"] = result.Verified,
                ["error"] = result.Error,
                ["provider"] = result.Provider,
                ["fences"] = result.Fences,
                ["duration_ms"] = Report.Round(result.Duration.TotalMilliseconds),
                ["vmlck_bytes"] = lockedBytes,
                ["budget_bytes"] = pinned.BudgetBytes,
                ["peak_pinned_bytes"] = pinned.PeakPinnedBytes,
                ["windows_registered"] = pinned.Registrations,
            }.ToJsonString());
        }
        else
        {
            Console.Out.WriteLine(result.Error is null
                ? $"session from {result.Peer}: {(result.Verified ? "verified" : "NOT verified")}, {result.Fences} fence(s), provider {result.Provider}, " +
                  $"{result.Duration.TotalMilliseconds:0} ms; {pinned.Registrations} window(s) registered, peak pinned {ByteSize.Format(pinned.PeakPinnedBytes)} " +
                  $"of {ByteSize.Format(pinned.BudgetBytes)}; VmLck {lockedBytes} bytes"
                : $"session from {result.Peer} failed: {result.Error}; VmLck {lockedBytes} bytes");
        }
        Console.Out.Flush();
    }
}
