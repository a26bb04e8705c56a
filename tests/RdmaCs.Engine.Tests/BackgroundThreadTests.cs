using System.Collections.Concurrent;
using RdmaCs.Transfer;

namespace RdmaCs.Tests;

/// <summary>An engine thread that fails logs why and ends; it never takes its host process (QEMU) down with it.</summary>
public sealed class BackgroundThreadTests
{
    [Fact]
    public void An_exception_that_escapes_a_thread_is_logged_and_the_process_lives_on()
    {
        var log = new ConcurrentQueue<string>();
        Thread thread = BackgroundThread.Start("test-thread", () => throw new ObjectDisposedException("fabric"),
            (level, message) => log.Enqueue($"{level}: {message}"));

        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        string line = Assert.Single(log);
        Assert.StartsWith("Error: thread test-thread stopped on an unexpected error: ObjectDisposedException", line);
    }

    [Fact]
    public void A_log_that_fails_too_is_not_thrown_either()
    {
        Thread thread = BackgroundThread.Start("test-thread", () => throw new InvalidOperationException("first"),
            (_, _) => throw new InvalidOperationException("the host is gone"));
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
    }
}
