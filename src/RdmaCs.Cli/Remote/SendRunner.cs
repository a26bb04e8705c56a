using RdmaCs.Cli.Commands;
using RdmaCs.Cli.Demo;
using RdmaCs.Cli.Output;
using RdmaCs.Configuration;
using RdmaCs.Fabric;
using RdmaCs.Fabric.Memory;
using RdmaCs.Memory;
using RdmaCs.Protocol;
using RdmaCs.Remote;
using RdmaCs.Statistics;
using RdmaCs.Transfer;

namespace RdmaCs.Cli.Remote;

/// <summary><c>rdmacs send</c>: live-migrates a region a writer keeps dirtying to a <c>rdmacs serve</c>, over libfabric.</summary>
internal static class SendRunner
{
    public sealed record Settings(HostPort To, long SizeBytes, long BudgetBytes, long MaxBlockBytes, int DirtyPagesPerSecond,
        int Rounds, string Token, string Provider, bool Json, string Command = "send");

    public static int Run(Settings settings)
    {
        EngineOptions? options = EngineOptionsFromCommandLine.Create(settings.Command, settings.SizeBytes, settings.BudgetBytes, settings.MaxBlockBytes);
        if (options is null)
        {
            return 2;
        }

        EngineLog log = ConsoleLog.Create();
        using var memory = new AlignedBuffer(settings.SizeBytes);
        var block = new RamBlock("ram0", memory.Address, memory.Length);
        for (long page = 0; page < memory.Length / options.PageSize; page++)
        {
            PagePattern.Fill(memory.Page(page, options.PageSize), 0, page, version: 0);
        }

        SourceSession? session = null;
        ProgressLine? progress = null;
        try
        {
            session = SourceSession.Open(
                new SourceOptions { Host = settings.To.Host, Port = settings.To.Port, Token = settings.Token, Provider = settings.Provider },
                options, [block], log);
            using var locked = new LockedMemorySampler();
            using var writer = new DirtyingWriter(block, session.Engine, settings.DirtyPagesPerSecond);
            progress = settings.Json ? null : new ProgressLine(session.Engine);
            PreCopyLoop.Outcome outcome = PreCopyLoop.Run(session.Engine, block, writer, settings.Rounds, session.CompleteRound, progress);
            VerificationResult verification = session.Finish();
            EngineStatistics statistics = session.Engine.Statistics;
            string fabric = $"libfabric {session.Provider}";
            session.Dispose();
            session = null;

            var facts = new TransferReport.Facts(verification.Verified, verification.Detail, settings.SizeBytes, settings.BudgetBytes,
                outcome, statistics, locked.PeakBytes, ProcessMemoryStatus.ReadLockedBytes(), writer.Rewrites, fabric);
            if (settings.Json)
            {
                Report.PrintJson(TransferReport.ToJson(facts));
            }
            else
            {
                TransferReport.Print(facts);
            }
            return TransferReport.Succeeded(facts) ? 0 : 1;
        }
        catch (Exception e) when (e is ProtocolException or PeerLostException or PeerReportedException or FabricException
                                      or EngineFailedException or TimeoutException)
        {
            progress?.Finish();
            Console.Error.WriteLine($"rdmacs {settings.Command}: {e.Message}");
            return 1;
        }
        finally
        {
            progress?.Dispose();
            session?.Dispose();
            if (ProcessMemoryStatus.ReadLockedBytes() is long left and > 0)
            {
                Console.Error.WriteLine($"rdmacs {settings.Command}: {left} bytes still locked after the session was released");
            }
        }
    }
}
