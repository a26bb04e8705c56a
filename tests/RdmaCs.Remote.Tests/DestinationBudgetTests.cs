using System.Globalization;
using System.Text.Json.Nodes;
using RdmaCs.Fabric.LibFabric;
using RdmaCs.Memory;
using RdmaCs.Protocol;

namespace RdmaCs.Remote.Tests;

/// <summary>
/// The destination's own budget: it registers (and, on software providers, locks) windows of its RAM as the source asks,
/// never more than its budget at once, whatever the source writes, and refuses a source that asks for more.
/// </summary>
public sealed class DestinationBudgetTests
{
    private const long Size = 256L << 20;
    private const long DestinationBudget = 8L << 20;

    /// <summary>Over each provider that runs here: tcp (connected endpoints), tcp;ofi_rxm and shm (RDM endpoints).</summary>
    [Theory]
    [InlineData("tcp")]
    [InlineData("tcp;ofi_rxm")]
    [InlineData("shm")]
    public void A_live_source_writing_all_of_its_RAM_never_makes_the_destination_lock_more_than_its_budget(string provider)
    {
        using var server = new ServeProcess(Size, DestinationBudget);
        using var locked = new LockedMemorySampler(server.Process.Pid, TimeSpan.FromMilliseconds(2));
        // The source's budget is larger than the destination's: the destination's holds anyway.
        using var source = new RdmacsProcess("send", "--to", $"127.0.0.1:{server.Port}", "--size", "256M", "--budget", "32M",
            "--rounds", "4", "--dirty-rate", "20000", "--token", ServeProcess.Token, "--provider", provider);

        int exit = source.WaitForExit(TimeSpan.FromMinutes(3));
        JsonNode session = server.NextSession();
        Assert.True(exit == 0, $"rdmacs send exited with {exit}:\n{source.Transcript}\nserve:\n{server.Process.Transcript}");
        locked.Dispose();

        Assert.True((bool)session["verified"]!, source.Transcript);
        Assert.Equal(provider, (string)session["provider"]!);
        Assert.True(locked.Samples.Count > 10, "VmLck was hardly sampled");
        Assert.InRange(locked.PeakBytes, 1, DestinationBudget);
        Assert.Equal(0, server.LockedBytes);
        Assert.Equal(DestinationBudget, (long)session["budget_bytes"]!);
        Assert.InRange((long)session["peak_pinned_bytes"]!, 1, DestinationBudget);
        // 128 windows of RAM through a budget of 4: every one registered at least once, most more than once.
        Assert.True((long)session["windows_registered"]! > Size / (2 << 20), $"only {session["windows_registered"]} windows were registered");
    }

    [Fact]
    public void A_source_that_asks_for_more_windows_than_the_destination_allows_is_refused_and_nothing_stays_locked()
    {
        using var server = new ServeProcess(Size, DestinationBudget);
        using (var control = ControlChannel.Connect("127.0.0.1", server.Port, ServeProcess.Timeout))
        {
            control.Send(new Hello(4096, ServeProcess.Token, "tcp", [new BlockDescriptor("ram0", Size)]));
            Accept accept = control.Expect<Accept>(ServeProcess.Timeout);
            using FabricInfo info = FabricInfo.Find("tcp", "127.0.0.1", accept.FabricPort.ToString(CultureInfo.InvariantCulture), passive: false);
            using FabricDomain domain = FabricDomain.Open(info);
            using FabricEndpoint endpoint = domain.Connect(info, BitConverter.GetBytes(accept.Nonce), ServeProcess.Timeout);
            Assert.Equal(4, accept.Windows);

            for (int window = 0; window <= accept.Windows; window++)
            {
                control.Send(new WindowRequest(new WindowId(0, window)));
            }
            for (int window = 0; window < accept.Windows; window++)
            {
                Assert.Equal(window, control.Expect<WindowGrant>(ServeProcess.Timeout).Window.Index);
            }
            Assert.InRange(server.LockedBytes, 1, DestinationBudget);
            var refusal = Assert.Throws<PeerReportedException>(() => control.Expect<WindowGrant>(ServeProcess.Timeout));
            Assert.Contains("beyond the destination's budget", refusal.Message);
        }

        JsonNode session = server.NextSession();
        Assert.Contains("beyond the destination's budget", (string)session["error"]!);
        Assert.Equal(0, server.LockedBytes);
        Assert.True(server.TransferInProcess().Verified, "the server did not serve the next source");
    }
}
