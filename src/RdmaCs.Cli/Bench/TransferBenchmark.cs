using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using RdmaCs.Cli.Commands;
using RdmaCs.Cli.Output;
using RdmaCs.Cli.Remote;
using RdmaCs.Configuration;
using RdmaCs.Fabric;
using RdmaCs.Fabric.Memory;
using RdmaCs.Memory;
using RdmaCs.Remote;
using RdmaCs.Statistics;
using RdmaCs.Transfer;

namespace RdmaCs.Cli.Bench;

/// <summary>
/// <c>rdmacs bench transfer</c>: one region written over libfabric to a receiver process on loopback, three
/// ways in one run: <c>raw</c> (fi_write from one buffer registered beforehand: the fabric's limit),
/// <c>pin_all</c> (register and pin the whole region, then write: QEMU's rdma-pin-all), both to a receiver whose budget
/// holds all of its RAM (as rdma-pin-all's destination), and <c>budgeted</c> (the engine at the budget, with mlock
/// pinning, to a receiver held to the same budget, whose VmLck is sampled too). With <c>--pattern</c> other than contiguous, a fourth kind: the
/// engine at the budget on that shape of dirty memory, compared with its contiguous run by the guest bytes each makes
/// current per second (<c>covered_gbps</c>).
/// </summary>
internal static class TransferBenchmark
{
    public sealed record Settings(long SizeBytes, long BudgetBytes, long MaxBlockBytes, string Provider, TransferPattern Pattern, int Repeat, bool Json, FileInfo? Plot);

    public sealed record Run(string Kind, TimeSpan Time, bool Verified, long PeakLockedBytes, long PeakPinnedBytes,
        IReadOnlyList<(TimeSpan At, long Bytes)> Locked, IReadOnlyList<(TimeSpan At, long Bytes)> Sent, EngineStatistics? Engine = null,
        long DestinationPeakLockedBytes = 0)
    {
        public double Gbps(long size) => size / Time.TotalSeconds / 1e9;
    }

    private const int PageSize = 4096;
    private const int Window = 64;

    public static int Execute(Settings settings)
    {
        EngineOptions? options = EngineOptionsFromCommandLine.Create("bench transfer", settings.SizeBytes, settings.BudgetBytes, settings.MaxBlockBytes);
        if (options is null)
        {
            return 2;
        }
        string token = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        // The baselines' destination may register all of its RAM (plus a page for a NIC's fence target); the engine's is
        // held to the engine's budget.
        using var wholeReceiver = new ReceiverProcess(settings.SizeBytes, token, settings.SizeBytes + (1 << 20));
        using var receiver = new ReceiverProcess(settings.SizeBytes, token, settings.BudgetBytes);
        var wholeSource = new SourceOptions
        {
            Host = "127.0.0.1", Port = wholeReceiver.WaitForPort(TimeSpan.FromSeconds(60)), Token = token, Provider = settings.Provider,
        };
        var source = wholeSource with { Port = receiver.WaitForPort(TimeSpan.FromSeconds(60)) };
        using var memory = new AlignedBuffer(settings.SizeBytes);
        var block = new RamBlock("ram0", memory.Address, memory.Length);
        EngineLog log = (level, message) => { if (level >= EngineLogLevel.Warning) { Console.Error.WriteLine($"  {level}: {message}"); } };

        var all = new List<Run>();
        int version = 0;
        // The first pass warms up both processes (JIT, socket buffers) and is not reported.
        TransferPattern pattern = settings.Pattern;
        string patternKind = pattern.Name();
        string[] round = pattern == TransferPattern.Contiguous ? ["raw", "pin_all", "budgeted"] : ["raw", "pin_all", "budgeted", patternKind];
        string[] kinds = ["warm-up", "warm-up-budgeted", .. Enumerable.Repeat(round, settings.Repeat).SelectMany(k => k)];
        foreach (string kind in kinds)
        {
            Console.Error.WriteLine($"rdmacs bench transfer: {kind}...");
            // New contents for every run, so that each run's verification proves its own writes; the pattern's run
            // changes only what its pattern changes (the destination holds the rest from the run before).
            version++;
            TransferPattern shape = kind == patternKind ? pattern : TransferPattern.Contiguous;
            shape.Fill(memory, PageSize, version);
            Run run = kind is "budgeted" or "warm-up-budgeted" || kind == patternKind
                ? Budgeted(source, options, block, log, shape, seed: version, receiver.Pid)
                : Baseline(kind == "warm-up" ? "raw" : kind, wholeSource, block, settings.MaxBlockBytes, log);
            all.Add(run with { Kind = kind });
        }

        List<Run> runs = [.. all.Skip(2)];
        Run raw = Median(runs, "raw"), pinAll = Median(runs, "pin_all"), budgeted = Median(runs, "budgeted");
        Run patterned = pattern == TransferPattern.Contiguous ? budgeted : Median(runs, patternKind);
        double contiguousCovered = budgeted.Gbps(settings.SizeBytes);
        double patternCovered = patterned.Gbps(pattern.CoveredBytes(settings.SizeBytes));
        var result = new JsonObject
        {
            ["benchmark"] = "transfer",
            ["size_bytes"] = settings.SizeBytes,
            ["budget_bytes"] = settings.BudgetBytes,
            ["max_block_bytes"] = settings.MaxBlockBytes,
            ["raw_gbps"] = Report.Round(raw.Gbps(settings.SizeBytes)),
            ["pin_all_gbps"] = Report.Round(pinAll.Gbps(settings.SizeBytes)),
            ["budgeted_gbps"] = Report.Round(budgeted.Gbps(settings.SizeBytes)),
            ["budgeted_vs_raw"] = Report.Round(budgeted.Gbps(settings.SizeBytes) / raw.Gbps(settings.SizeBytes)),
            ["budgeted_time_vs_pin_all"] = Report.Round(budgeted.Time / pinAll.Time),
            ["pattern"] = patternKind,
            ["covered_bytes"] = pattern.CoveredBytes(settings.SizeBytes),
            ["covered_gbps"] = Report.Round(patternCovered),
            ["vs_contiguous"] = Report.Round(patternCovered / contiguousCovered),
            ["pattern_peak_pinned_bytes"] = patterned.PeakPinnedBytes,
            ["pattern_engine"] = patterned.Engine is { } engine
                ? new JsonObject
                {
                    ["writes"] = engine.BlocksWritten, ["registrations"] = engine.Registrations, ["cache_hits"] = engine.CacheHits,
                    ["zero_ranges"] = engine.ZeroRanges, ["zero_pages"] = engine.ZeroPages,
                    ["budget_wait_ms"] = Report.Round(engine.BudgetWait.TotalMilliseconds),
                }
                : null,
            ["peak_pinned_bytes"] = budgeted.PeakPinnedBytes,
            ["peak_vmlck_bytes"] = runs.Where(run => run.Kind is "budgeted" || run.Kind == patternKind).Max(run => run.PeakLockedBytes),
            ["pin_all_peak_vmlck_bytes"] = pinAll.PeakLockedBytes,
            ["dst_budget_bytes"] = settings.BudgetBytes,
            ["dst_peak_vmlck_bytes"] = runs.Where(run => run.Kind is "budgeted" || run.Kind == patternKind).Max(run => run.DestinationPeakLockedBytes),
            ["verified"] = all.All(run => run.Verified),
            ["runs_ms"] = new JsonObject
            {
                ["raw"] = RunsMs(runs, "raw"), ["pin_all"] = RunsMs(runs, "pin_all"), ["budgeted"] = RunsMs(runs, "budgeted"),
            },
            ["repeat"] = settings.Repeat,
            ["targets"] = new JsonObject
            {
                ["budgeted_vs_raw"] = 0.90, ["budgeted_time_vs_pin_all"] = 1.0, ["vs_contiguous"] = VsContiguousTarget(pattern),
            },
        };
        if (pattern != TransferPattern.Contiguous)
        {
            result["runs_ms"]![patternKind] = RunsMs(runs, patternKind);
        }
        if (settings.Plot is not null)
        {
            TransferPlot.Draw(settings.Plot.FullName, [raw, pinAll, budgeted], settings.BudgetBytes);
            result["plot"] = settings.Plot.FullName;
        }
        if (settings.Json)
        {
            Report.PrintJson(result);
        }
        else
        {
            Console.Out.WriteLine($"Transfer benchmark: {ByteSize.FormatApproximate(settings.SizeBytes)} over libfabric to a receiver process on loopback");
            foreach (Run run in new[] { raw, pinAll, budgeted })
            {
                Report.Line(run.Kind, $"{run.Gbps(settings.SizeBytes):0.00} GB/s, {run.Time.TotalMilliseconds:0} ms, peak VmLck {ByteSize.FormatApproximate(run.PeakLockedBytes)}{(run.Verified ? "" : ", NOT VERIFIED")}");
            }
            Report.Line("budgeted / raw", $"{result["budgeted_vs_raw"]}   (target >= 0.90)");
            Report.Line("budgeted time / pin_all", $"{result["budgeted_time_vs_pin_all"]}   (target <= 1.0)");
            if (pattern != TransferPattern.Contiguous)
            {
                Report.Line(patternKind, $"{patternCovered:0.00} GB/s of guest memory made current, {patterned.Time.TotalMilliseconds:0} ms{(patterned.Verified ? "" : ", NOT VERIFIED")}");
                Report.Line($"{patternKind} / contiguous", $"{result["vs_contiguous"]}   (target >= {VsContiguousTarget(pattern)})");
            }
        }
        return all.All(run => run.Verified) && (long)result["peak_vmlck_bytes"]! <= settings.BudgetBytes &&
               (long)result["dst_peak_vmlck_bytes"]! <= settings.BudgetBytes ? 0 : 1;
    }

    /// <summary>Isolated pages cost a write each, whatever the design: a quarter of the contiguous rate is the aim there.</summary>
    private static double VsContiguousTarget(TransferPattern pattern) => pattern == TransferPattern.Sparse ? 0.25 : 0.9;

    /// <summary>The run of that kind with the median time.</summary>
    private static Run Median(List<Run> runs, string kind)
    {
        Run[] sorted = [.. runs.Where(run => run.Kind == kind).OrderBy(run => run.Time)];
        return sorted[sorted.Length / 2];
    }

    private static JsonArray RunsMs(List<Run> runs, string kind) =>
        new([.. runs.Where(run => run.Kind == kind).Select(run => (JsonNode)Report.Round(run.Time.TotalMilliseconds))]);

    /// <summary>raw and pin_all: the fabric driven directly, <see cref="Window"/> writes of max-block size in flight.</summary>
    private static Run Baseline(string kind, SourceOptions source, RamBlock block, long chunk, EngineLog log)
    {
        using var session = SourceSession.OpenWithoutEngine(source, PageSize, [block], log);
        IFabric fabric = session.Fabric;
        bool pinAll = kind == "pin_all";
        FabricRegistration? registration = pinAll ? null : fabric.Register(block.Address, block.Length);
        using var locked = new LockedMemorySampler();
        var sent = new List<(TimeSpan, long)>();
        Stopwatch clock = Stopwatch.StartNew();
        if (pinAll)
        {
            // What rdma-pin-all does before the first byte moves: every page of the guest pinned and registered.
            if (!fabric.RegistrationPins)
            {
                MemoryLock.Lock(block.Address, block.Length);
            }
            registration = fabric.Register(block.Address, block.Length);
        }
        WriteAll(fabric, registration!, block, chunk, clock, sent);
        TimeSpan time = clock.Elapsed;
        session.Fence(1);
        fabric.Deregister(registration!);
        if (pinAll && !fabric.RegistrationPins)
        {
            MemoryLock.Unlock(block.Address, block.Length);
        }
        locked.Dispose();
        bool verified = session.Finish().Verified;
        return new Run(kind, time, verified, locked.PeakBytes, pinAll ? block.Length : 0, locked.Samples, sent);
    }

    private static void WriteAll(IFabric fabric, FabricRegistration registration, RamBlock block, long chunk, Stopwatch clock, List<(TimeSpan, long)> sent)
    {
        var completions = new FabricCompletion[Window];
        long offset = 0, done = 0;
        int inFlight = 0;
        // Sleep between completions rather than spin: on two cores a spinning poller takes the CPU the
        // fabric's progress thread needs to move the data, and the baseline would understate the fabric.
        using var completed = new ManualResetEventSlim(false);
        fabric.SetCompletionCallback(completed.Set);
        while (offset < block.Length || inFlight > 0)
        {
            while (inFlight < Window && offset < block.Length)
            {
                long length = Math.Min(chunk, block.Length - offset);
                fabric.PostWrite(registration, block.Address + (nint)offset, length, 0, offset, (ulong)offset); // contexts are unique in flight
                offset += length;
                inFlight++;
            }
            int count = fabric.PollCompletions(completions);
            for (int i = 0; i < count; i++)
            {
                if (!completions[i].Succeeded)
                {
                    throw new FabricException($"write failed: {completions[i].Message}", completions[i].Error);
                }
                done += Math.Min(chunk, block.Length - (long)completions[i].Context);
            }
            inFlight -= count;
            if (count == 0)
            {
                completed.Wait(TimeSpan.FromMilliseconds(1));
                completed.Reset();
            }
            else
            {
                sent.Add((clock.Elapsed, done));
            }
        }
        fabric.SetCompletionCallback(null);
    }

    private static Run Budgeted(SourceOptions source, EngineOptions options, RamBlock block, EngineLog log, TransferPattern pattern, int seed,
        int destinationPid)
    {
        using var session = SourceSession.Open(source, options, [block], log);
        using var locked = new LockedMemorySampler();
        using var destinationLocked = new LockedMemorySampler(destinationPid);
        var sent = new List<(TimeSpan, long)>();
        Stopwatch clock = Stopwatch.StartNew();
        bool running = true;
        // A thread of its own: thread-pool timers stall when both cores are busy, and the plot would show it.
        var sampler = new Thread(() =>
        {
            while (Volatile.Read(ref running))
            {
                lock (sent)
                {
                    sent.Add((clock.Elapsed, session.Engine.Statistics.BytesWritten));
                }
                Thread.Sleep(2);
            }
        }) { IsBackground = true };
        sampler.Start();
        pattern.Designate(session.Engine, block.Length / PageSize, seed);
        session.CompleteRound(1);
        TimeSpan time = clock.Elapsed;
        Volatile.Write(ref running, false);
        sampler.Join();
        EngineStatistics statistics = session.Engine.Statistics;
        bool verified = session.Finish().Verified;
        locked.Dispose();
        destinationLocked.Dispose();
        lock (sent)
        {
            return new Run(pattern.Name(), time, verified, locked.PeakBytes, statistics.PeakPinnedBytes, locked.Samples, [.. sent], statistics,
                destinationLocked.PeakBytes);
        }
    }
}
