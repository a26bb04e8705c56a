using System.Diagnostics;
using System.Text.Json.Nodes;
using RdmaCs.Cli.Output;
using RdmaCs.Configuration;
using RdmaCs.Memory;
using RdmaCs.Transfer;

namespace RdmaCs.Cli.Bench.Model;

/// <summary>
/// <c>rdmacs bench model</c>: the engine (the real one) against a simulated NIC (<see cref="SimulatedFabric"/>) of a link
/// rate, write latency and registration cost given on the command line, beside what the model of docs/hardware.md
/// (<see cref="PipelineModel"/>) predicts, over a grid of links, budgets and block sizes. Also measures here what
/// pinning costs per MiB (<c>mlock</c>/<c>munlock</c>) and what the tcp provider's <c>fi_mr_reg</c> costs, to set
/// beside the published NIC figures the defaults come from.
/// </summary>
internal static class ModelBenchmark
{
    public sealed record Settings(SimulatedHardware Hardware, bool MeasuredRegistration, long BudgetBytes, long BlockBytes, int Threads, bool Grid,
        bool Json);

    private static readonly double[] GridLinks = [25e9, 100e9, 200e9, 400e9];
    private static readonly long[] GridBudgets = [16L << 20, 64L << 20, 256L << 20, 1L << 30];
    private static readonly long[] GridBlocks = [1L << 20, 2L << 20];

    /// <summary>The slowed-down time one block's write takes: long enough for the OS's sleeps to be exact to a few percent.</summary>
    private const double SlowedWriteSeconds = 0.002;

    private static readonly TimeSpan FlushTimeout = TimeSpan.FromMinutes(10);

    /// <summary>One point of the grid: what the engine reached against the simulated NIC, and what the model predicted.</summary>
    private sealed record Point(double LinkBitsPerSecond, long BudgetBytes, long BlockBytes, int Threads, double SimulatedBytesPerSecond,
        PipelineModel.Prediction Prediction, double SimulatedSeconds, double Error, long RegisteredBytes, long Registrations)
    {
        public double LinkFraction(SimulatedHardware hardware) => SimulatedBytesPerSecond / (LinkBitsPerSecond / 8);
    }

    public static int Run(Settings settings)
    {
        Progress(settings, "calibrating: mlock/munlock and the tcp provider's fi_mr_reg on this machine...");
        RegistrationCalibration calibration = RegistrationCalibration.Measure(256L << 20, 2L << 20);
        SimulatedHardware hardware = settings.MeasuredRegistration
            ? settings.Hardware with { RegistrationPerMiB = calibration.ResidentLockPerMiB, DeregistrationPerMiB = calibration.UnlockPerMiB }
            : settings.Hardware;

        (double Link, long Budget, long Block)[] plan = settings.Grid
            ? [.. from link in GridLinks from budget in GridBudgets from block in GridBlocks select (link, budget, block)]
            : [(hardware.LinkBitsPerSecond, settings.BudgetBytes, settings.BlockBytes)];
        var points = new List<Point>();
        foreach ((double link, long budget, long block) in plan)
        {
            SimulatedHardware at = hardware with { LinkBitsPerSecond = link };
            int threads = settings.Threads > 0 ? settings.Threads : PipelineModel.ThreadsFor(at);
            Progress(settings, $"{ModelUnits.FormatRate(link)} link, budget {ByteSize.Format(budget)}, block {ByteSize.Format(block)}, {threads} registering thread(s)...");
            points.Add(Simulate(at, budget, block, threads));
        }
        // Why the engine has registering threads: the same 100 Gb/s point with the worker registering alone.
        SimulatedHardware at100 = hardware with { LinkBitsPerSecond = 100e9 };
        Progress(settings, "100G link, budget 64M, block 2M, the worker registering alone...");
        Point alone = Simulate(at100, 64L << 20, 2L << 20, threads: 1);
        Point? reference = points.FirstOrDefault(p => p.LinkBitsPerSecond == 100e9 && p.BudgetBytes == 64L << 20 && p.BlockBytes == 2L << 20);
        if (reference is null && settings.Grid)
        {
            throw new InvalidOperationException("the grid lacks its 100G/64M/2M point");
        }
        reference ??= Simulate(at100, 64L << 20, 2L << 20, settings.Threads > 0 ? settings.Threads : PipelineModel.ThreadsFor(at100));

        double maxError = points.Max(p => p.Error);
        var result = new JsonObject
        {
            ["benchmark"] = "model",
            ["hardware"] = new JsonObject
            {
                ["link"] = ModelUnits.FormatRate(hardware.LinkBitsPerSecond),
                ["write_latency_us"] = Report.Round(hardware.WriteLatency.TotalMicroseconds),
                ["registration_us_per_mib"] = Report.Round(hardware.RegistrationPerMiB.TotalMicroseconds),
                ["deregistration_us_per_mib"] = Report.Round(hardware.DeregistrationPerMiB.TotalMicroseconds),
                ["registration_source"] = settings.MeasuredRegistration ? "measured here (mlock of resident memory, munlock)" : "given (published NIC figures by default)",
            },
            ["calibration"] = calibration.ToJson(),
            ["registration_threads"] = new JsonObject(GridLinks.Select(link =>
                KeyValuePair.Create(ModelUnits.FormatRate(link), (JsonNode?)PipelineModel.ThreadsFor(hardware with { LinkBitsPerSecond = link })))),
            ["grid"] = new JsonArray([.. points.Select(p => (JsonNode)new JsonObject
            {
                ["link"] = ModelUnits.FormatRate(p.LinkBitsPerSecond),
                ["budget_bytes"] = p.BudgetBytes,
                ["block_bytes"] = p.BlockBytes,
                ["registration_threads"] = p.Threads,
                ["pipeline_depth"] = p.Prediction.Depth,
                ["simulated_gbps"] = Report.Round(p.SimulatedBytesPerSecond * 8 / 1e9),
                ["predicted_gbps"] = Report.Round(p.Prediction.BytesPerSecond * 8 / 1e9),
                ["bound"] = p.Prediction.Bound,
                ["link_fraction"] = Report.Round(p.LinkFraction(hardware)),
                ["error"] = Report.Round(p.Error),
                ["registrations"] = p.Registrations,
                ["registered_bytes"] = p.RegisteredBytes,
            })]),
            ["max_prediction_error"] = Report.Round(maxError),
            ["link_fraction_100g_64m"] = Report.Round(reference.LinkFraction(hardware)),
            ["link_fraction_100g_64m_one_thread"] = Report.Round(alone.LinkFraction(hardware)),
            ["one_thread_registered_bytes"] = alone.RegisteredBytes,
            ["one_thread_simulated_ms"] = Report.Round(alone.SimulatedSeconds * 1000),
            ["one_thread_predicted_ms"] = Report.Round(alone.Prediction.Seconds * 1000),
            ["predicted_link_fraction_100g_64m_one_thread"] = Report.Round(alone.Prediction.BytesPerSecond / (100e9 / 8)),
            ["targets"] = new JsonObject { ["max_prediction_error"] = 0.15, ["link_fraction_100g_64m"] = 0.9 },
        };
        if (settings.Json)
        {
            Report.PrintJson(result);
        }
        else
        {
            Console.Out.WriteLine("Model benchmark: the engine against a simulated NIC, beside docs/hardware.md's model");
            foreach (Point p in points)
            {
                Report.Line($"{ModelUnits.FormatRate(p.LinkBitsPerSecond)} {ByteSize.Format(p.BudgetBytes)}/{ByteSize.Format(p.BlockBytes)} x{p.Threads}",
                    $"simulated {p.SimulatedBytesPerSecond * 8 / 1e9:0.0} Gb/s, predicted {p.Prediction.BytesPerSecond * 8 / 1e9:0.0} Gb/s " +
                    $"({p.Prediction.Bound}), error {p.Error:P1}");
            }
            Report.Line("max prediction error", $"{maxError:0.000}   (target <= 0.15)");
            Report.Line("100G, 64M: link fraction", $"{reference.LinkFraction(hardware):0.000}   (target >= 0.9); one thread: {alone.LinkFraction(hardware):0.000}");
        }
        return maxError <= 0.15 && reference.LinkFraction(hardware) >= 0.9 ? 0 : 1;
    }

    private static Point Simulate(SimulatedHardware hardware, long budgetBytes, long blockBytes, int threads)
    {
        long region = Math.Max(2 * budgetBytes, 128 * blockBytes);
        double slowdown = Math.Max(1, SlowedWriteSeconds / (blockBytes / hardware.LinkBytesPerSecond));
        var options = new EngineOptions
        {
            BudgetBytes = budgetBytes, MaxBlockBytes = blockBytes, RegistrationThreads = threads,
            ZeroPagesAsRanges = false, // nothing is read: the region is never touched, and a NIC would not look at it either
        };
        using var memory = new AlignedBuffer(region, zeroed: false);
        using var fabric = new SimulatedFabric(hardware, slowdown);
        TimeSpan elapsed;
        RdmaCs.Statistics.EngineStatistics statistics;
        using (var engine = new TransferEngine(options, fabric, [new RamBlock("ram0", memory.Address, region)]))
        {
            Stopwatch clock = Stopwatch.StartNew();
            engine.DesignateRange(0, 0, region);
            engine.Flush(1, FlushTimeout);
            elapsed = clock.Elapsed;
            statistics = engine.Statistics;
        }
        double seconds = elapsed.TotalSeconds / slowdown;
        PipelineModel.Prediction prediction = PipelineModel.Predict(hardware, region, budgetBytes, blockBytes, threads, options.MaxWritesInFlight);
        return new Point(hardware.LinkBitsPerSecond, budgetBytes, blockBytes, threads, region / seconds, prediction, seconds,
            Math.Abs(seconds - prediction.Seconds) / prediction.Seconds, statistics.RegisteredBytes, statistics.Registrations);
    }

    private static void Progress(Settings settings, string message) => Console.Error.WriteLine($"rdmacs bench model: {message}");
}
