namespace RdmaCs.Remote.Tests;

/// <summary>The source (<c>rdmacs send</c>) when its destination dies or is not there: a clear error, a non-zero exit, nothing left locked.</summary>
public sealed class SourceFaultTests
{
    [Fact]
    public void A_destination_killed_mid_transfer_stops_the_source_with_a_clear_error()
    {
        using var server = new ServeProcess(16 << 20);
        using var source = new RdmacsProcess("send", "--to", $"127.0.0.1:{server.Port}", "--size", "16M", "--budget", "2M",
            "--rounds", "1000", "--dirty-rate", "50000", "--token", ServeProcess.Token, "--provider", "tcp");
        source.NextOutputLine(line => line.Contains("round 2:", StringComparison.Ordinal), ServeProcess.Timeout);
        server.Process.Kill();

        Assert.Equal(1, source.WaitForExit(ServeProcess.Timeout));
        string errors = source.StandardError;
        Assert.Contains("rdmacs send:", errors);
        Assert.DoesNotContain("Unhandled exception", errors);
        Assert.DoesNotContain("still locked", errors);
    }

    [Fact]
    public void A_destination_that_is_not_there_is_reported_as_unreachable()
    {
        using var source = new RdmacsProcess("send", "--to", "127.0.0.1:1", "--size", "1M", "--budget", "1M", "--token", "t");
        Assert.Equal(1, source.WaitForExit(ServeProcess.Timeout));
        Assert.Contains("could not connect to 127.0.0.1:1", source.StandardError);
    }

    [Fact]
    public void Sending_without_a_token_is_refused_before_connecting()
    {
        using var source = new RdmacsProcess("send", "--to", "127.0.0.1:1", "--size", "1M");
        Assert.Equal(2, source.WaitForExit(ServeProcess.Timeout));
        Assert.Contains("a token is required", source.StandardError);
    }

    [Fact]
    public void A_complete_live_transfer_between_two_processes_is_verified_by_both()
    {
        using var server = new ServeProcess(32 << 20);
        using var source = new RdmacsProcess("send", "--to", $"127.0.0.1:{server.Port}", "--size", "32M", "--budget", "4M",
            "--rounds", "3", "--token", ServeProcess.Token, "--provider", "tcp", "--json");
        Assert.Equal(0, source.WaitForExit(ServeProcess.Timeout));
        Assert.Contains("\"verified\": true", source.Transcript);
        Assert.True((bool)server.NextSession()["verified"]!);
        Assert.Equal(0, server.LockedBytes);
    }
}
