using RdmaCs.Configuration;
using RdmaCs.Memory;
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
}
