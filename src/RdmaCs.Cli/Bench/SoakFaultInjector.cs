using System.Diagnostics;
using System.Text.Json.Nodes;
using RdmaCs.Qemu;

namespace RdmaCs.Cli.Bench;

/// <summary>A fault <c>rdmacs bench soak</c> injects into a migration.</summary>
internal enum SoakFault
{
    None,

    /// <summary><c>migrate_cancel</c> on the source (in band: during completion it waits for QEMU's main lock).</summary>
    Cancel,

    /// <summary>QMP <c>yank</c> of the migration instance on the source, out of band (answered in every phase).</summary>
    Yank,

    /// <summary>The destination QEMU killed with SIGKILL, as a crashed host.</summary>
    Kill,
}

/// <summary>
/// Injects one fault into a running migration, from a thread of its own, a set time after it is armed (the first poll
/// of the migration, right after <c>migrate</c>). Not on the polling thread: that thread waits inside query-migrate
/// while QEMU completes the migration with its main lock held, and a fault must be able to land then too.
/// <see cref="Disarm"/> (once the migration has ended) stops a fault that has not fired yet; one that fired just as
/// the migration ended may still hit a finished migration, which the caller sees (a killed destination has exited).
/// </summary>
internal sealed class SoakFaultInjector(SoakFault fault, TimeSpan delay, QemuMachine source, QemuMachine destination, string sourceOutOfBandSocket)
    : IDisposable
{
    private readonly ManualResetEventSlim _stop = new();
    private readonly Lock _gate = new();
    private Thread? _thread;
    private bool _ended;

    public SoakFault Fault { get; } = fault;

    /// <summary>True once the fault was delivered (it may still have been refused: <see cref="Error"/>).</summary>
    public bool Fired { get; private set; }

    /// <summary>When it fired, from the moment it was armed.</summary>
    public TimeSpan FiredAfter { get; private set; }

    /// <summary>Why delivering it failed (for yank: QEMU had no migration to yank any more).</summary>
    public string? Error { get; private set; }

    /// <summary>Delivered and accepted: the migration saw the fault.</summary>
    public bool Injected => Fired && Error is null;

    /// <summary>When it was armed, on the migration's clock.</summary>
    public TimeSpan ArmedAt { get; private set; }

    /// <summary>Starts the countdown (<paramref name="now"/>: the migration's clock); later calls do nothing.</summary>
    public void Arm(TimeSpan now)
    {
        if (Fault == SoakFault.None || _thread is not null)
        {
            return;
        }
        ArmedAt = now;
        _thread = new Thread(Inject) { IsBackground = true, Name = "soak-fault" };
        _thread.Start();
    }

    /// <summary>The migration has ended: a fault not yet fired never will; waits for one being delivered.</summary>
    public void Disarm()
    {
        lock (_gate)
        {
            _ended = true;
        }
        _stop.Set();
        _thread?.Join();
    }

    /// <summary>"yank@412ms", "cancel (too late)", "none", ...: what happened, for the progress line.</summary>
    public string Describe()
    {
        string name = Name(Fault);
        if (Fault == SoakFault.None)
        {
            return name;
        }
        if (!Fired)
        {
            return $"{name} (after the end)";
        }
        return Error is null ? $"{name}@{FiredAfter.TotalMilliseconds:0}ms" : $"{name}@{FiredAfter.TotalMilliseconds:0}ms (refused)";
    }

    public static string Name(SoakFault fault) => fault switch
    {
        SoakFault.Cancel => "cancel",
        SoakFault.Yank => "yank",
        SoakFault.Kill => "kill",
        _ => "none",
    };

    private void Inject()
    {
        var clock = Stopwatch.StartNew();
        QmpClient? outOfBand = null;
        try
        {
            if (Fault == SoakFault.Yank)
            {
                outOfBand = QmpClient.Connect(sourceOutOfBandSocket, TimeSpan.FromSeconds(10), outOfBand: true);
            }
            TimeSpan left = delay - clock.Elapsed;
            if (_stop.Wait(left > TimeSpan.Zero ? left : TimeSpan.Zero))
            {
                return;
            }
            lock (_gate)
            {
                if (_ended)
                {
                    return;
                }
                Fired = true;
                FiredAfter = clock.Elapsed;
            }
            switch (Fault)
            {
                case SoakFault.Cancel:
                    source.Qmp.Execute("migrate_cancel");
                    break;
                case SoakFault.Yank:
                    outOfBand!.ExecuteOutOfBand("yank", new() { ["instances"] = new JsonArray(new JsonObject { ["type"] = "migration" }) });
                    break;
                case SoakFault.Kill:
                    destination.Kill();
                    break;
            }
        }
        catch (Exception e)
        {
            Error = $"{e.GetType().Name}: {e.Message}";
            if (!Fired)
            {
                Fired = true; // could not even get ready (the out-of-band monitor): say so rather than pretend it was late
            }
        }
        finally
        {
            outOfBand?.Dispose();
        }
    }

    public void Dispose()
    {
        Disarm();
        _stop.Dispose();
    }
}
