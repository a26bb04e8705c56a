namespace RdmaCs.Cli.Bench;

/// <summary>Draws pinned bytes and bytes sent over time for the transfer benchmark's runs.</summary>
internal static class TransferPlot
{
    public static void Draw(string path, IReadOnlyList<TransferBenchmark.Run> runs, long budgetBytes)
    {
        var plot = new ScottPlot.Plot();
        plot.Title("rdma-cs transfer: pinned memory (VmLck) and data sent");
        plot.XLabel("time (ms)");
        plot.YLabel("MiB");
        foreach (TransferBenchmark.Run run in runs)
        {
            if (run.Locked.Count > 0)
            {
                var locked = plot.Add.Scatter(run.Locked.Select(s => s.At.TotalMilliseconds).ToArray(), run.Locked.Select(s => s.Bytes / 1048576.0).ToArray());
                locked.LegendText = $"{run.Kind}: VmLck";
                locked.MarkerSize = 0;
            }
            if (run.Sent.Count > 0)
            {
                var sent = plot.Add.Scatter(run.Sent.Select(s => s.At.TotalMilliseconds).ToArray(), run.Sent.Select(s => s.Bytes / 1048576.0).ToArray());
                sent.LegendText = $"{run.Kind}: sent";
                sent.MarkerSize = 0;
                sent.LinePattern = ScottPlot.LinePattern.Dashed;
            }
        }
        var budget = plot.Add.HorizontalLine(budgetBytes / 1048576.0);
        budget.LegendText = "budget";
        plot.ShowLegend();
        plot.SavePng(path, 1000, 600);
    }
}
