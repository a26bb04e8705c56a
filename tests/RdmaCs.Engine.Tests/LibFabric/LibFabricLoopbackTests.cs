using RdmaCs.Bindings.LibFabric;
using RdmaCs.Configuration;
using RdmaCs.Fabric;
using RdmaCs.Fabric.LibFabric;
using RdmaCs.Fabric.Memory;
using RdmaCs.Memory;
using RdmaCs.Transfer;

namespace RdmaCs.Tests.LibFabric;

/// <summary>The engine over real libfabric endpoints (tcp provider, loopback), both ends in this process.</summary>
public class LibFabricLoopbackTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void The_engine_moves_a_region_through_a_real_tcp_endpoint_and_it_arrives_intact()
    {
        const long Size = 32L << 20;
        using var source = new AlignedBuffer(Size);
        using var destination = new AlignedBuffer(Size);
        for (long page = 0; page < Size / 4096; page++)
        {
            PagePattern.Fill(source.Page(page, 4096), 0, page, 1);
        }

        using var serverInfo = FabricInfo.Find("tcp", "127.0.0.1", "0", passive: true);
        using var serverDomain = FabricDomain.Open(serverInfo);
        using var listener = serverDomain.Listen();
        using var exposed = serverDomain.Register(destination.Address, Size, Fi.FI_REMOTE_WRITE, 77);
        FabricEndpoint? serverEndpoint = null;
        var accepting = new Thread(() => serverEndpoint = listener.Accept(Timeout, data => data.SequenceEqual(new byte[] { 1, 2, 3 }), _ => { }));
        accepting.Start();

        using var clientInfo = FabricInfo.Find("tcp", "127.0.0.1", listener.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), passive: false);
        using var clientDomain = FabricDomain.Open(clientInfo);
        using var clientEndpoint = clientDomain.Connect(clientInfo, [1, 2, 3], Timeout);
        Assert.True(accepting.Join(Timeout), "the listener did not accept");
        using var progress = new CancellationTokenSource();
        var serverProgress = new Thread(() =>
        {
            var none = new FabricCompletion[1];
            while (!progress.IsCancellationRequested)
            {
                serverEndpoint!.ReadCompletions(none, waitMilliseconds: 10);
            }
        });
        serverProgress.Start();

        ulong baseAddress = clientInfo.RemoteAddressIsVirtual ? (ulong)destination.Address : 0;
        using (var fabric = new LibFabricFabric(clientDomain, clientEndpoint, [new RemoteBlock("ram0", Size, exposed.Key, baseAddress)]))
        using (var engine = new TransferEngine(new EngineOptions { BudgetBytes = 4 << 20 }, fabric, [new RamBlock("ram0", source.Address, Size)]))
        {
            engine.DesignateRange(0, 0, Size);
            engine.Flush(1, Timeout);
            Assert.Equal(Size, engine.Statistics.BytesWritten);
            Assert.InRange(engine.Statistics.PeakPinnedBytes, 1, 4 << 20);
        }
        progress.Cancel();
        serverProgress.Join();
        serverEndpoint!.Dispose();

        Assert.True(source.Slice(0, (int)Size).SequenceEqual(destination.Slice(0, (int)Size)), "destination differs from source");
        Assert.Equal(0, ProcessMemoryStatus.ReadLockedBytes());
    }
}
