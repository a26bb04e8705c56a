using RdmaCs.Cli.Qemu;

namespace RdmaCs.Cli.Bench;

/// <summary>Draws the QEMU benchmark's migrations over time: bytes transferred, and the source QEMU's VmLck.</summary>
internal static class QemuPlot
{
    public static void Draw(string path, IReadOnlyList<GuestMigration.Result> runs, long budgetBytes)
    {
        var plot = new ScottPlot.Plot();
        plot.Title("QEMU live migration: data moved (solid) and source VmLck (dashed)");
        plot.XLabel("time since migrate (ms)");
        plot.YLabel("MiB");
        foreach (GuestMigration.Result run in runs)
        {
            double[] times = [.. run.Outcome.Timeline.Select(p => p.Elapsed.TotalMilliseconds)];
            // rdma-cs: what has really moved (QEMU counts a page when it hands it to the plugin).
            bool plugin = run.Outcome.Settings.Transport == RdmaCs.Qemu.MigrationTransport.RdmaCs;
            var sent = plot.Add.Scatter(times, run.Outcome.Timeline.Select(p => (plugin ? p.MovedBytes : p.TransferredBytes) / 1048576.0).ToArray());
            sent.LegendText = $"{run.Name}: {(plugin ? "written + zero ranges" : "transferred")}";
            sent.MarkerSize = 0;
            var locked = plot.Add.Scatter(times, run.Outcome.Timeline.Select(p => p.LockedBytes / 1048576.0).ToArray());
            locked.LegendText = $"{run.Name}: VmLck";
            locked.MarkerSize = 0;
            locked.LinePattern = ScottPlot.LinePattern.Dashed;
            locked.Color = sent.Color;
        }
        var budget = plot.Add.HorizontalLine(budgetBytes / 1048576.0);
        budget.LegendText = "rdma-cs budget";
        plot.ShowLegend();
        plot.SavePng(path, 1000, 600);
    }
}
