using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;

namespace RdmaCs.Tests.Shared;

/// <summary>
/// The real <c>rdmacs</c> command-line tool as a child process (the build the tests were built with), with its
/// output captured line by line so a test can wait for what it prints.
/// </summary>
internal sealed class RdmacsProcess : IDisposable
{
    private readonly Process _process;
    private readonly BlockingCollection<string> _stdout = new();
    private readonly ConcurrentQueue<string> _stderr = new();
    private readonly StringBuilder _transcript = new();

    public RdmacsProcess(params string[] arguments)
    {
        string configuration = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
        string cli = Path.Combine(RepositoryPaths.Root, "build/dotnet/bin/RdmaCs.Cli", configuration, "net10.0/rdmacs.dll");
        if (!File.Exists(cli))
        {
            throw new FileNotFoundException($"the rdmacs tool is not built at {cli}", cli);
        }
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(cli);
        arguments.ToList().ForEach(start.ArgumentList.Add);
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _stdout.CompleteAdding();
                return;
            }
            Record("out", e.Data);
            _stdout.Add(e.Data);
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                Record("err", e.Data);
                _stderr.Enqueue(e.Data);
            }
        };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Everything the process printed so far, for assertion messages.</summary>
    public string Transcript
    {
        get { lock (_transcript) { return _transcript.ToString(); } }
    }

    public string StandardError => string.Join("\n", _stderr);

    /// <summary>The next line on standard output that matches; fails the test with the transcript if none comes in time.</summary>
    public string NextOutputLine(Func<string, bool> match, TimeSpan timeout)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_stdout.TryTake(out string? line, TimeSpan.FromMilliseconds(100)))
            {
                if (match(line))
                {
                    return line;
                }
            }
            else if (_stdout.IsCompleted)
            {
                break;
            }
        }
        throw new Xunit.Sdk.XunitException($"no matching output within {timeout.TotalSeconds} s; transcript:\n{Transcript}");
    }

    /// <summary>Waits until standard error has a line containing <paramref name="text"/>.</summary>
    public string WaitForError(string text, TimeSpan timeout)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            string? line = _stderr.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal));
            if (line is not null)
            {
                return line;
            }
            Thread.Sleep(20);
        }
        throw new Xunit.Sdk.XunitException($"'{text}' did not appear on standard error within {timeout.TotalSeconds} s; transcript:\n{Transcript}");
    }

    public int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            throw new Xunit.Sdk.XunitException($"rdmacs did not exit within {timeout.TotalSeconds} s; transcript:\n{Transcript}");
        }
        _process.WaitForExit(); // drain the output
        return _process.ExitCode;
    }

    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    private void Record(string stream, string line)
    {
        lock (_transcript)
        {
            _transcript.Append(stream).Append(": ").AppendLine(line);
        }
    }
}
