using RdmaCs.Fabric;
using RdmaCs.Fabric.LibFabric;
using RdmaCs.Protocol;
using RdmaCs.Remote;

namespace RdmaCs.Tests.LibFabric;

/// <summary>
/// The source's map of the destination's windows against a destination that applies its messages in order, as the real
/// one does, and checks its budget at every step: never more windows than it allows, never one asked for twice, never
/// one released that was not held.
/// </summary>
public sealed class RemoteWindowsTests
{
    private const long WindowBytes = 2L << 20;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>The destination's side: what it holds, and every message in the order it took them.</summary>
    private sealed class Destination(int allowed)
    {
        public HashSet<WindowId> Held { get; } = [];
        public List<string> Messages { get; } = [];
        public RemoteWindows? Windows { get; set; }

        public void Take(WindowRelease? release, WindowRequest request)
        {
            lock (this)
            {
                if (release is not null)
                {
                    Assert.True(Held.Remove(release.Window), $"released window {release.Window} is not held");
                    Messages.Add($"release {release.Window.Index}");
                    Windows!.Left(release.Window);
                }
                Assert.True(Held.Add(request.Window), $"window {request.Window} asked for twice");
                Assert.InRange(Held.Count, 1, allowed);
                Messages.Add($"request {request.Window.Index}");
            }
            Windows!.Granted(new WindowGrant(request.Window, new RemoteKey(1000 + (ulong)request.Window.Index, 0)));
        }
    }

    private static (RemoteWindows Windows, Destination Destination) Create(int allowed, int windowsInBlock = 16)
    {
        var destination = new Destination(allowed);
        var windows = new RemoteWindows(new WindowLayout(WindowBytes, allowed), [new RemoteBlock("ram0", windowsInBlock * WindowBytes, 0, 0)],
            request => destination.Take(null, request), destination.Take);
        destination.Windows = windows;
        return (windows, destination);
    }

    private static RemoteKey Acquire(RemoteWindows windows, long window, ulong context) =>
        windows.Acquire(0, window * WindowBytes + 4096, 8192, context, Timeout, CancellationToken.None).Key;

    [Fact]
    public void Windows_are_asked_for_at_once_while_allowed_then_the_least_recently_used_idle_one_is_swapped()
    {
        (RemoteWindows windows, Destination destination) = Create(allowed: 2);

        Assert.Equal(1000UL, Acquire(windows, 0, context: 1).Key);
        Assert.Equal(1001UL, Acquire(windows, 1, context: 2).Key);
        windows.Completed(1);
        Assert.Equal(1002UL, Acquire(windows, 2, context: 3).Key); // window 1 has a write in flight: window 0 goes

        Assert.Equal(["request 0", "request 1", "release 0", "request 2"], destination.Messages);
    }

    [Fact]
    public void A_window_with_a_write_in_flight_is_not_released_until_the_write_completes()
    {
        (RemoteWindows windows, Destination destination) = Create(allowed: 1);
        Acquire(windows, 0, context: 1);

        var next = new Thread(() => Acquire(windows, 1, context: 2));
        next.Start();
        Assert.False(next.Join(TimeSpan.FromMilliseconds(300)), "a window was swapped while a write into it was in flight");
        Assert.Equal(["request 0"], destination.Messages);

        windows.Completed(1);
        Assert.True(next.Join(Timeout));
        Assert.Equal(["request 0", "release 0", "request 1"], destination.Messages);
    }

    [Fact]
    public void A_prefetch_asks_ahead_but_never_evicts_a_window_asked_for_ahead_and_not_written_yet()
    {
        (RemoteWindows windows, Destination destination) = Create(allowed: 2);
        windows.Prefetch(0, 0);
        windows.Prefetch(0, WindowBytes);
        windows.Prefetch(0, 2 * WindowBytes); // both held windows are still to be written: nothing to swap
        Assert.Equal(["request 0", "request 1"], destination.Messages);

        Acquire(windows, 0, context: 1);
        windows.Completed(1);
        windows.Prefetch(0, 2 * WindowBytes); // window 0 is done with; window 1 still waits for its writes
        Assert.Equal(["request 0", "request 1", "release 0", "request 2"], destination.Messages);
        Assert.Equal(1001UL, Acquire(windows, 1, context: 2).Key); // no new request: it was held
        Assert.Equal(4, destination.Messages.Count);
    }

    [Fact]
    public void A_write_that_crosses_a_window_is_refused()
    {
        (RemoteWindows windows, _) = Create(allowed: 2);
        var error = Assert.Throws<FabricException>(() => windows.Acquire(0, WindowBytes - 4096, 8192, 1, Timeout, CancellationToken.None));
        Assert.Contains("crosses a destination window", error.Message);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 2)]
    [InlineData(5, 3)]
    public void Random_writes_and_prefetches_never_hold_more_windows_than_the_destination_allows(int allowed, int seed)
    {
        (RemoteWindows windows, Destination destination) = Create(allowed, windowsInBlock: 12);
        var random = new Random(seed);
        var inFlight = new Dictionary<ulong, long>();
        ulong context = 0;
        for (int step = 0; step < 3000; step++)
        {
            long window = random.Next(12);
            switch (random.Next(4))
            {
                case 0:
                    windows.Prefetch(0, window * WindowBytes);
                    break;
                case 1 when inFlight.Count > 0:
                    ulong done = inFlight.Keys.ElementAt(random.Next(inFlight.Count));
                    inFlight.Remove(done);
                    windows.Completed(done);
                    break;
                default:
                    // A write may have to wait for a window to be idle: only when every window's writes are in flight.
                    if (inFlight.Values.Distinct().Count() >= allowed && !inFlight.ContainsValue(window))
                    {
                        foreach (ulong pending in inFlight.Keys)
                        {
                            windows.Completed(pending);
                        }
                        inFlight.Clear();
                    }
                    Assert.Equal(1000UL + (ulong)window, Acquire(windows, window, ++context).Key);
                    inFlight[context] = window;
                    break;
            }
        }
        Assert.InRange(destination.Held.Count, 1, allowed);
        Assert.Contains(destination.Messages, m => m.StartsWith("release", StringComparison.Ordinal));
    }
}
