using System.CommandLine;
using RdmaCs.Cli.Bench.Model;
using RdmaCs.Configuration;

namespace RdmaCs.Cli.Commands;

/// <summary><c>rdmacs bench model</c>: the engine against a simulated NIC, beside docs/hardware.md's model.</summary>
internal static class ModelBenchCommand
{
    public static Command Create()
    {
        var link = Quantity("--link", "the NIC's link rate, bits per second (25G ... 400G)", "100G");
        var latency = Quantity("--latency", "time from a write's last byte leaving to its completion", "3us");
        var registration = Quantity("--reg-cost", "registering cost per MiB, or 'measured' (mlock on this machine)",
            $"{RegistrationModel.PublishedRegistrationPerMiB.TotalMicroseconds:0}us/MiB");
        var deregistration = Quantity("--dereg-cost", "deregistering cost per MiB ('measured' with --reg-cost measured: munlock)",
            $"{RegistrationModel.PublishedDeregistrationPerMiB.TotalMicroseconds:0}us/MiB");
        var budget = new SizeOption("--budget", "pinned-memory budget (with --single)", "64M");
        var block = new SizeOption("--block", "the engine's max block (with --single)", "2M");
        var threads = CountOption.Create("--registration-threads", "registering threads; 0: as many as the model says the link needs", 0, minimum: 0);
        var single = new Option<bool>("--single") { Description = "only the point --link/--budget/--block, not the grid (links 25-400G, budgets 16M-1G, blocks 1M and 2M)" };
        var json = new Option<bool>("--json") { Description = "print the figures as JSON only" };
        var command = new Command("model",
            "The engine against a simulated NIC of the given link rate, write latency and registration cost, beside what the " +
            "model of docs/hardware.md predicts, over a grid of links, budgets and block sizes; also measures mlock and fi_mr_reg here.")
        {
            link, latency, registration, deregistration, budget, block, threads, single, json,
        };
        command.SetAction(parse =>
        {
            string? error = null;
            // 'measured': both costs come from this machine's mlock/munlock, after the calibration.
            bool measured = parse.GetValue(registration) == "measured";
            TimeSpan registerCost = default, deregisterCost = default;
            if (!ModelUnits.TryParseRate(parse.GetValue(link)!, out double bits, out error) ||
                !ModelUnits.TryParseTime(parse.GetValue(latency)!, out TimeSpan writeLatency, out error) ||
                (!measured && (!ModelUnits.TryParseCostPerMiB(parse.GetValue(registration)!, out registerCost, out error) ||
                               !ModelUnits.TryParseCostPerMiB(parse.GetValue(deregistration)!, out deregisterCost, out error))))
            {
                Console.Error.WriteLine($"rdmacs bench model: {error}");
                return 2;
            }
            if (block.Get(parse) > budget.Get(parse) || block.Get(parse) % 4096 != 0)
            {
                Console.Error.WriteLine("rdmacs bench model: --block must be whole pages and no larger than --budget");
                return 2;
            }
            return ModelBenchmark.Run(new ModelBenchmark.Settings(new SimulatedHardware(bits, writeLatency, registerCost, deregisterCost), measured,
                budget.Get(parse), block.Get(parse), parse.GetValue(threads), !parse.GetValue(single), parse.GetValue(json)));
        });
        return command;
    }

    private static Option<string> Quantity(string name, string description, string defaultValue) =>
        new(name) { Description = $"{description} (default {defaultValue})", DefaultValueFactory = _ => defaultValue };
}
