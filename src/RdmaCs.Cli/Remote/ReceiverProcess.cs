using System.Diagnostics;
using System.Text.RegularExpressions;

namespace RdmaCs.Cli.Remote;

/// <summary>
/// A <c>rdmacs serve</c> child process on loopback: the destination a benchmark measures against. Started from
/// this very program (same build), told its port through its log, killed on dispose.
/// </summary>
internal sealed partial class ReceiverProcess : IDisposable
{
    private readonly Process _process;
    private readonly TaskCompletionSource<int> _port = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <param name="budgetBytes">The destination's own budget: the most of its RAM it registers at once.</param>
    public ReceiverProcess(long sizeBytes, string token, long budgetBytes)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        // Under `dotnet rdmacs.dll` the process path is dotnet itself: pass the assembly too.
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
        {
            start.ArgumentList.Add(typeof(ReceiverProcess).Assembly.Location);
        }
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        foreach (string argument in new[]
                 {
                     "serve", "--listen", "127.0.0.1:0", "--size", sizeBytes.ToString(invariant), "--budget", budgetBytes.ToString(invariant),
                     "--token", token, "--json",
                 })
        {
            start.ArgumentList.Add(argument);
        }
        _process = Process.Start(start) ?? throw new InvalidOperationException("could not start the receiver");
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _port.TrySetException(new InvalidOperationException("the receiver exited before it listened"));
                return;
            }
            Match listening = ListeningLine().Match(e.Data);
            if (listening.Success)
            {
                _port.TrySetResult(int.Parse(listening.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
            }
            else if (e.Data.Contains("error", StringComparison.OrdinalIgnoreCase))
            {
                Console.Error.WriteLine($"  receiver: {e.Data}");
            }
        };
        _process.OutputDataReceived += (_, _) => { };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
    }

    public int Pid => _process.Id;

    /// <summary>The control port, once the receiver listens.</summary>
    public int WaitForPort(TimeSpan timeout) =>
        _port.Task.Wait(timeout) ? _port.Task.Result : throw new TimeoutException("the receiver did not start listening");

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }
        _process.Dispose();
    }

    [GeneratedRegex(@"listening on [^ ]*:(\d+) ")]
    private static partial Regex ListeningLine();
}
