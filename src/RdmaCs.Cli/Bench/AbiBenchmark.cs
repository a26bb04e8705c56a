using System.Diagnostics;
using System.Text.Json.Nodes;
using RdmaCs.Cli.Output;

namespace RdmaCs.Cli.Bench;

/// <summary>
/// <c>rdmacs bench abi</c>: builds the native parts (scripts/build-native.sh) and runs the C benchmark that calls
/// src_save_page through the shim into the engine for every page of 1 GiB (tests/native/abi_bench.c).
/// </summary>
internal static class AbiBenchmark
{
    public static int Run(bool json)
    {
        string root = RdmaCs.Qemu.QemuPaths.Root;
        if (RunProcess(Path.Combine(root, "scripts/build-native.sh"), out _, passOutput: true) != 0)
        {
            return 1;
        }
        int status = RunProcess(Path.Combine(root, "build/cmake/tests/native/abi_bench"), out string output, passOutput: false);
        if (status != 0)
        {
            Console.Error.Write(output);
            return status;
        }
        if (json)
        {
            Console.Out.Write(output);
            return 0;
        }
        JsonNode result = JsonNode.Parse(output)!;
        Console.Out.WriteLine($"ABI benchmark: src_save_page through the shim into the engine, {result["pages_per_pass"]} pages per pass");
        Report.Line("save_page", $"{result["save_page_ns"]} ns   (target <= 50)");
        Report.Line("empty C call (baseline)", $"{result["empty_call_ns"]} ns");
        return 0;
    }

    private static int RunProcess(string program, out string output, bool passOutput)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = !passOutput, UseShellExecute = false };
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {program}");
        output = passOutput ? "" : process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode;
    }
}
