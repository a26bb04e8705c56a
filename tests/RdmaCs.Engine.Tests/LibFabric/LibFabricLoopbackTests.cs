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
        OverLoopback(Size, (engine, _, _) =>
        {
            engine.DesignateRange(0, 0, Size);
            engine.Flush(1, Timeout);
            Assert.Equal(Size, engine.Statistics.BytesWritten);
            Assert.InRange(engine.Statistics.PeakPinnedBytes, 1, 4 << 20);
        });
    }

    [Fact]
    public void Isolated_dirty_pages_go_several_to_a_write_through_the_tcp_provider_and_land_where_they_belong()
    {
        // The tcp provider takes 4 local and 4 remote ranges per write (fi_writemsg): one page in sixteen, handed over in
        // random order, goes out four pages per write, each into its own place at the destination.
        const long Size = 8L << 20;
        OverLoopback(Size, (engine, fabric, source) =>
        {
            Assert.Equal(4, fabric.MaxWriteSegments);
            engine.DesignateRange(0, 0, Size);
            engine.Flush(1, Timeout);
            long writesBefore = engine.Statistics.BlocksWritten;
            long[] pages = [.. Enumerable.Range(0, (int)(Size / 4096 / 16)).Select(i => i * 16L)];
            new Random(5).Shuffle(pages);
            engine.HoldSelection = true;
            foreach (long page in pages)
            {
                PagePattern.Fill(source.Page(page, 4096), 0, page, 2);
                engine.DesignatePage(0, page);
            }
            engine.HoldSelection = false;
            engine.Flush(2, Timeout);
            Assert.Equal(pages.Length / 4, engine.Statistics.BlocksWritten - writesBefore);
        });
    }

    /// <summary>
    /// A source engine over a real tcp endpoint to a destination buffer in this process; <paramref name="run"/> drives it,
    /// then the destination must equal the source and nothing may stay locked.
    /// </summary>
    private static void OverLoopback(long size, Action<TransferEngine, LibFabricFabric, AlignedBuffer> run)
    {
        using var source = new AlignedBuffer(size);
        using var destination = new AlignedBuffer(size);
        for (long page = 0; page < size / 4096; page++)
        {
            PagePattern.Fill(source.Page(page, 4096), 0, page, 1);
        }

        using var serverInfo = FabricInfo.Find("tcp", "127.0.0.1", "0", passive: true);
        using var serverDomain = FabricDomain.Open(serverInfo);
        using var listener = serverDomain.Listen();
        using var exposed = serverDomain.Register(destination.Address, size, Fi.FI_REMOTE_WRITE, 77);
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
        using (var fabric = new LibFabricFabric(clientDomain, clientEndpoint, [new RemoteBlock("ram0", size, exposed.Key, baseAddress)]))
        using (var engine = new TransferEngine(new EngineOptions { BudgetBytes = 4 << 20 }, fabric, [new RamBlock("ram0", source.Address, size)]))
        {
            run(engine, fabric, source);
        }
        progress.Cancel();
        serverProgress.Join();
        serverEndpoint!.Dispose();

        Assert.True(source.Slice(0, (int)size).SequenceEqual(destination.Slice(0, (int)size)), "destination differs from source");
        Assert.Equal(0, ProcessMemoryStatus.ReadLockedBytes());
    }
}
