using RdmaCs.Configuration;

namespace RdmaCs.Cli.Bench.Model;

/// <summary>
/// The analytic model of docs/hardware.md: the engine moving a region once through a NIC, each block registered, written
/// and deregistered. Three stages bound the rate: the link (L), the registering threads (K of them, each turning over a
/// block in (r + d)·b), and the budget (D blocks at once, each held for r·b + b/L + λ + d·b); the first block's
/// r·b + b/L + λ is paid before the first byte lands.
/// </summary>
internal static class PipelineModel
{
    /// <summary>The model's prediction, and which stage bounds it.</summary>
    public sealed record Prediction(double BytesPerSecond, string Bound, double Seconds, int Depth);

    public static Prediction Predict(SimulatedHardware hardware, long regionBytes, long budgetBytes, long blockBytes, int registeringThreads,
        int maxWritesInFlight)
    {
        double r = hardware.RegistrationPerMiB.TotalSeconds / (1 << 20);
        double d = hardware.DeregistrationPerMiB.TotalSeconds / (1 << 20);
        double link = hardware.LinkBytesPerSecond;
        double latency = hardware.WriteLatency.TotalSeconds;
        int depth = (int)Math.Min(budgetBytes / blockBytes, maxWritesInFlight);
        double held = r * blockBytes + blockBytes / link + latency + d * blockBytes;
        (double rate, string bound)[] stages =
        [
            (link, "link"),
            (registeringThreads / (r + d), "registration"),
            (depth * blockBytes / held, "budget"),
        ];
        (double rate, string bound) slowest = stages.MinBy(stage => stage.rate);
        double fill = r * blockBytes + blockBytes / link + latency;
        return new Prediction(slowest.rate, slowest.bound, regionBytes / slowest.rate + fill, depth);
    }

    /// <summary>How many registering threads keep <paramref name="hardware"/>'s link busy (see <see cref="RegistrationModel"/>).</summary>
    public static int ThreadsFor(SimulatedHardware hardware) =>
        RegistrationModel.ThreadsFor(hardware.LinkBitsPerSecond, hardware.RegistrationPerMiB, hardware.DeregistrationPerMiB);
}
