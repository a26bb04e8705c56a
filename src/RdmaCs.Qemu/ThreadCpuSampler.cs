using System.Globalization;

namespace RdmaCs.Qemu;

/// <summary>
/// Where a process's CPU time goes, thread by thread: samples <c>/proc/PID/task/*/stat</c> on a thread of its own, and
/// reports the CPU seconds (user + system) each thread name spent since the sampler started. A thread that exits between
/// two samples keeps what its last sample saw; what no sample saw (a thread that lived less than an interval) is reported
/// under <see cref="Unsampled"/>, from the process's own total.
/// </summary>
public sealed class ThreadCpuSampler : IDisposable
{
    /// <summary>The name under which CPU time no thread sample accounts for is reported.</summary>
    public const string Unsampled = "(exited unsampled)";

    /// <summary>USER_HZ: the unit of /proc's CPU times on every Linux architecture .NET runs on.</summary>
    private const double TicksPerSecond = 100;

    private readonly int _pid;
    private readonly TimeSpan _interval;
    private readonly Thread _thread;
    private readonly Dictionary<int, ThreadTimes> _threads = []; // by thread id; guarded by itself
    private readonly long _processStart;
    private long _processLatest;
    private volatile bool _stopping;

    private sealed class ThreadTimes(string name, long baseline)
    {
        public string Name { get; set; } = name;
        public long Baseline { get; } = baseline;
        public long Latest { get; set; } = baseline;
    }

    /// <summary>Starts sampling <paramref name="pid"/> every <paramref name="interval"/> (default 20 ms).</summary>
    public ThreadCpuSampler(int pid, TimeSpan? interval = null)
    {
        _pid = pid;
        _interval = interval ?? TimeSpan.FromMilliseconds(20);
        _processStart = _processLatest = ReadTicks($"/proc/{pid}/stat", out _) ?? 0;
        foreach ((int tid, string name, long ticks) in ReadThreads())
        {
            _threads[tid] = new ThreadTimes(name, ticks);
        }
        _thread = new Thread(Run) { IsBackground = true, Name = "thread-cpu-sampler" };
        _thread.Start();
    }

    /// <summary>Stops sampling after one last sample.</summary>
    public void Dispose()
    {
        _stopping = true;
        _thread.Join();
        Sample();
    }

    /// <summary>
    /// CPU seconds by thread name (threads of one name summed), most first; names that spent less than 10 ms are left out.
    /// </summary>
    public IReadOnlyList<(string Thread, double Seconds)> SecondsByThread()
    {
        lock (_threads)
        {
            var byName = _threads.Values
                .GroupBy(t => t.Name)
                .Select(g => (Thread: g.Key, Ticks: g.Sum(t => t.Latest - t.Baseline)))
                .ToList();
            long unsampled = _processLatest - _processStart - byName.Sum(t => t.Ticks);
            if (unsampled > 0)
            {
                byName.Add((Unsampled, unsampled));
            }
            return [.. byName.Where(t => t.Ticks > 0).OrderByDescending(t => t.Ticks).Select(t => (t.Thread, t.Ticks / TicksPerSecond))];
        }
    }

    /// <summary>The process's CPU seconds since the sampler started, every thread included.</summary>
    public double ProcessSeconds
    {
        get { lock (_threads) { return (_processLatest - _processStart) / TicksPerSecond; } }
    }

    private void Run()
    {
        while (!_stopping)
        {
            Thread.Sleep(_interval);
            Sample();
        }
    }

    private void Sample()
    {
        long? process = ReadTicks($"/proc/{_pid}/stat", out _);
        List<(int Tid, string Name, long Ticks)> threads = ReadThreads();
        lock (_threads)
        {
            if (process is { } ticks)
            {
                _processLatest = Math.Max(_processLatest, ticks);
            }
            foreach ((int tid, string name, long threadTicks) in threads)
            {
                if (_threads.TryGetValue(tid, out ThreadTimes? known))
                {
                    known.Latest = Math.Max(known.Latest, threadTicks);
                    known.Name = name; // threads name themselves once running
                }
                else
                {
                    _threads[tid] = new ThreadTimes(name, 0) { Latest = threadTicks }; // born after the start: all of it counts
                }
            }
        }
    }

    private List<(int Tid, string Name, long Ticks)> ReadThreads()
    {
        var threads = new List<(int, string, long)>();
        string[] tasks;
        try
        {
            tasks = Directory.GetDirectories($"/proc/{_pid}/task");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return threads; // the process is gone
        }
        foreach (string task in tasks)
        {
            if (int.TryParse(Path.GetFileName(task), out int tid) && ReadTicks(Path.Combine(task, "stat"), out string name) is { } ticks)
            {
                threads.Add((tid, name, ticks));
            }
        }
        return threads;
    }

    /// <summary>utime + stime of a stat file, and the name (comm) in it; null when it is gone.</summary>
    private static long? ReadTicks(string statPath, out string name)
    {
        name = "";
        string stat;
        try
        {
            stat = File.ReadAllText(statPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        // "tid (comm) state ppid ...": comm may hold spaces and parentheses, so the fields start after the last ')'.
        int open = stat.IndexOf('(');
        int close = stat.LastIndexOf(')');
        if (open < 0 || close < open)
        {
            return null;
        }
        name = stat[(open + 1)..close];
        string[] fields = stat[(close + 2)..].Split(' ');
        // After the comm: field 3 (state) is index 0, so utime (14) and stime (15) are indexes 11 and 12.
        return fields.Length > 12
            ? long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)
            : null;
    }
}
