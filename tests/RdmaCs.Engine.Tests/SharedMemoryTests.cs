using RdmaCs.Configuration;
using RdmaCs.Fabric.Memory;
using RdmaCs.Memory;
using RdmaCs.Tests.Shared;
using RdmaCs.Transfer;

namespace RdmaCs.Tests;

/// <summary>
/// Guest RAM that another process writes through its own mapping (vhost-user, virtiofsd: memfd or file, share=on):
/// the pages hold data although this process's page tables never saw them, so they must be read, on both sides.
/// </summary>
public sealed unsafe class SharedMemoryTests
{
    private const int PageSize = 4096;
    private const long Size = 8L << 20;
    private const int DataStride = 32; // one data page, then 31 zero pages: longer than the shortest zero range
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Pages_another_process_wrote_into_shared_memory_arrive_with_their_data(bool fileOnDevShm)
    {
        string? path = fileOnDevShm ? $"/dev/shm/rdmacs-test-{Guid.NewGuid():N}" : null;
        try
        {
            using SharedFileMapping shared = path is null ? SharedFileMapping.CreateMemfd(Size) : SharedFileMapping.Open(path, Size);
            nint backend = shared.MapAgain(); // the other process's mapping
            long pages = Size / PageSize;
            for (long page = 0; page < pages; page += DataStride) // between data pages, enough zero pages for zero ranges
            {
                new Span<byte>((void*)(backend + (nint)(page * PageSize)), PageSize).Fill((byte)(1 + page % 250));
            }
            // The premise: this process's mapping has never touched those pages, so pagemap calls them untouched.
            using (var residency = new PageResidency(PageSize))
            {
                var untouched = new bool[4];
                residency.FindUntouched(shared.Address, untouched);
                Assert.True(untouched[0], "the first mapping should not have the page in its page tables");
            }

            using var destination = new AlignedBuffer(Size);
            destination.Slice(0, (int)Size).Fill(0xee); // stale content, to be replaced by data or cleared
            using var fabric = new MemoryFabric([new RamBlock("ram0", destination.Address, Size)]);
            using (var engine = new TransferEngine(new EngineOptions { BudgetBytes = 1 << 20, MaxBlockBytes = 256 << 10 }, fabric,
                       [new RamBlock("ram0", shared.Address, Size, PrivateAnonymous: false)]))
            {
                engine.DesignateRange(0, 0, Size);
                engine.Flush(1, Timeout);
                Assert.Equal(pages - (pages + DataStride - 1) / DataStride, engine.Statistics.ZeroPages);
            }
            Assert.True(new ReadOnlySpan<byte>((void*)backend, (int)Size).SequenceEqual(destination.Slice(0, (int)Size)),
                "the destination differs from what the other process wrote");
            Assert.Empty(fabric.Violations);
            Assert.Equal(0, ProcessMemoryStatus.ReadLockedBytes());
        }
        finally
        {
            if (path is not null)
            {
                File.Delete(path);
            }
        }
    }

    [Fact]
    public void A_zero_range_clears_file_content_the_destination_never_touched()
    {
        using SharedFileMapping file = SharedFileMapping.CreateMemfd(1 << 20);
        nint writer = file.MapAgain();
        new Span<byte>((void*)writer, 1 << 20).Fill(0x77); // stale file content behind the destination's page tables
        using var scan = new ZeroPageScan(PageSize);

        Assert.Equal(256, scan.ClearNonZero(file.Address, 256, privateAnonymous: false));

        Assert.True(new ReadOnlySpan<byte>((void*)writer, 1 << 20).IndexOfAnyExcept((byte)0) < 0, "stale file content survived the zero range");
    }
}
