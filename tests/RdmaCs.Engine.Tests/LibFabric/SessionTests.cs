using System.Net;
using System.Net.Sockets;
using RdmaCs.Bindings.LibFabric;
using RdmaCs.Configuration;
using RdmaCs.Fabric.LibFabric;
using RdmaCs.Memory;
using RdmaCs.Protocol;
using RdmaCs.Remote;

namespace RdmaCs.Tests.LibFabric;

/// <summary>A source session and a destination server in this process, over libfabric's tcp provider on loopback.</summary>
public sealed class SessionTests
{
    private const string Token = "session-test-token";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void Finishing_without_verification_allocates_nothing_per_page_while_the_guest_is_stopped()
    {
        const long Size = 64L << 20; // 16,384 pages: 128 KiB of hashes per side if they were allocated
        using var source = new AlignedBuffer(Size);
        using var destination = new AlignedBuffer(Size);
        source.Slice(0, 4096).Fill(1);
        using var server = new DestinationServer(new DestinationOptions { ListenHost = "127.0.0.1", Port = 0, Token = Token, Provider = "tcp" },
            [new RamBlock("ram0", destination.Address, Size)], 4096, (_, _) => { });
        DestinationSessionResult? served = null;
        var serving = new Thread(() => served = server.ServeOne());
        serving.Start();

        using (SourceSession session = SourceSession.Open(new SourceOptions { Host = "127.0.0.1", Port = server.Port, Token = Token, Provider = "tcp" },
                   new EngineOptions { BudgetBytes = 4 << 20 }, [new RamBlock("ram0", source.Address, Size)], (_, _) => { }))
        {
            session.Engine.DesignateRange(0, 0, Size);
            session.CompleteRound(1);
            long before = GC.GetAllocatedBytesForCurrentThread();
            VerificationResult result = session.Finish(verify: false);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

            Assert.True(result.Verified);
            Assert.InRange(allocated, 0, 32 << 10);
        }
        Assert.True(serving.Join(Timeout));
        Assert.Null(served!.Error);
        Assert.True(source.Slice(0, 4096).SequenceEqual(destination.Slice(0, 4096)));
        Assert.Equal(0, ProcessMemoryStatus.ReadLockedBytes());
    }

    [Fact]
    public void A_destination_that_floods_the_source_with_unasked_messages_is_refused_not_buffered()
    {
        // A destination that connects properly and then sends acknowledgements nobody asked for, without end: the
        // source's control pump holds at most a bounded number, then fails the session saying why.
        const long Size = 1L << 20;
        using var source = new AlignedBuffer(Size);
        using var destination = new AlignedBuffer(Size);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        Exception? flooderFailure = null;
        var flooder = new Thread(() =>
        {
            try
            {
                using var control = new ControlChannel(listener.AcceptSocket());
                control.Expect<Hello>(Timeout);
                using FabricInfo info = FabricInfo.Find("tcp", "127.0.0.1", "0", passive: true);
                using FabricDomain domain = FabricDomain.Open(info);
                using FabricListener fabric = domain.Listen();
                using FabricMemoryRegion exposed = domain.Register(destination.Address, Size, Fi.FI_REMOTE_WRITE | Fi.FI_REMOTE_READ, 1);
                control.Send(new Accept(info.Provider, fabric.Port, info.MrMode, 7, [new RemoteKey(exposed.Key, info.RemoteAddressIsVirtual ? (ulong)destination.Address : 0)]));
                using FabricEndpoint endpoint = fabric.Accept(Timeout, _ => true, _ => { });
                for (long sequence = 0; sequence < 10_000; sequence++)
                {
                    control.Send(new FenceAck(sequence));
                }
                Thread.Sleep(3000); // keep the connection while the source gives up
            }
            catch (Exception e) when (e is IOException or SocketException or PeerLostException or ObjectDisposedException)
            {
                // The source hung up on the flood: what this test wants.
            }
            catch (Exception e)
            {
                flooderFailure = e;
            }
        });
        flooder.Start();

        using (SourceSession session = SourceSession.Open(
                   new SourceOptions { Host = "127.0.0.1", Port = ((IPEndPoint)listener.LocalEndpoint).Port, Token = Token, Provider = "tcp", RoundTimeout = TimeSpan.FromSeconds(1) },
                   new EngineOptions { BudgetBytes = 4 << 20 }, [new RamBlock("ram0", source.Address, Size)], (_, _) => { }))
        {
            Thread.Sleep(2500); // the pump fills its bounded queue and waits a round timeout for room
            Exception failure = Assert.ThrowsAny<Exception>(() => session.CompleteRound(1));
            Assert.Contains("not following the protocol", failure.Message);
        }
        Assert.True(flooder.Join(Timeout));
        Assert.Null(flooderFailure);
        Assert.Equal(0, ProcessMemoryStatus.ReadLockedBytes());
    }
}
