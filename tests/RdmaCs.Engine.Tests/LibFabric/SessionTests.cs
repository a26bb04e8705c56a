using System.Net;
using System.Net.Sockets;
using RdmaCs.Bindings.LibFabric;
using RdmaCs.Configuration;
using RdmaCs.Fabric;
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
                var key = new RemoteKey(exposed.Key, info.RemoteAddressIsVirtual ? (ulong)destination.Address : 0);
                control.Send(new Accept(info.Provider, fabric.Port, info.MrMode, 7, Size, 1, key, []));
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

    [Fact]
    public void A_source_with_a_valid_session_can_read_the_fence_target_but_not_guest_ram()
    {
        // Guest RAM is exposed for remote writes only: even the authenticated source's read of it is refused by the
        // provider, while the destination's own fence target answers.
        const long Size = 1L << 20;
        using var guest = new AlignedBuffer(Size);
        guest.Slice(0, 4096).Fill(0x5a);
        using var server = new DestinationServer(new DestinationOptions { ListenHost = "127.0.0.1", Port = 0, Token = Token, Provider = "tcp" },
            [new RamBlock("ram0", guest.Address, Size)], 4096, (_, _) => { });
        var serving = new Thread(() => server.ServeOne());
        serving.Start();

        using var control = ControlChannel.Connect("127.0.0.1", server.Port, Timeout);
        control.Send(new Hello(4096, Token, "tcp", [new BlockDescriptor("ram0", Size)]));
        Accept accept = control.Expect<Accept>(Timeout);
        using FabricInfo info = FabricInfo.Find("tcp", "127.0.0.1", accept.FabricPort.ToString(System.Globalization.CultureInfo.InvariantCulture), passive: false);
        using FabricDomain domain = FabricDomain.Open(info);
        using FabricEndpoint endpoint = domain.Connect(info, BitConverter.GetBytes(accept.Nonce), Timeout);
        using var landing = new AlignedBuffer(4096);
        using FabricMemoryRegion local = domain.Register(landing.Address, 4096, Fi.FI_READ, 99);

        control.Send(new WindowRequest(new WindowId(0, 0)));
        WindowGrant window = control.Expect<WindowGrant>(Timeout);
        FabricCompletion fence = Read(endpoint, local, accept.FenceTarget, context: 1);
        FabricCompletion stolen = Read(endpoint, local, window.Key, context: 2);

        Assert.True(fence.Succeeded, $"the fence target could not be read: {fence.Message}");
        Assert.False(stolen.Succeeded, "guest RAM was readable from the network");
        Assert.NotEqual(0x5a, landing.Slice(0, 8)[0]);
        control.Dispose();
        Assert.True(serving.Join(Timeout));
        Assert.Equal(0, ProcessMemoryStatus.ReadLockedBytes());
    }

    /// <summary>Reads 8 bytes of <paramref name="target"/> into <paramref name="local"/>; the completion (or error) that comes back.</summary>
    private static unsafe FabricCompletion Read(FabricEndpoint endpoint, FabricMemoryRegion local, RemoteKey target, ulong context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!endpoint.TryRead(local.Address, 8, local.Descriptor, target.BaseAddress, target.Key, context))
        {
            Assert.True(clock.Elapsed < Timeout, "the read could not be posted");
        }
        var completions = new FabricCompletion[1];
        while (true)
        {
            try
            {
                if (endpoint.ReadCompletions(completions, waitMilliseconds: 10) > 0)
                {
                    return completions[0];
                }
            }
            catch (FabricException e)
            {
                return new FabricCompletion(context, e.Error == 0 ? -1 : e.Error, e.Message); // the provider broke the connection off
            }
            Assert.True(clock.Elapsed < Timeout, "the read never completed");
        }
    }
}
