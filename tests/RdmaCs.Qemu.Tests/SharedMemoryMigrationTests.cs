using RdmaCs.Tests.Shared;

namespace RdmaCs.Qemu.Tests;

/// <summary>
/// Guest RAM shared with another process (memory-backend-memfd or -file with share=on: what vhost-user networking,
/// vhost-user-blk and virtiofs require). A process of the tests' own writes into guest RAM through its own mapping,
/// in pages neither the guest nor QEMU ever touched, as a backend DMAs a packet or a disk block: those pages must
/// arrive, and the destination must hold exactly the source's memory, whatever its own file held before.
/// </summary>
public sealed class SharedMemoryMigrationTests
{
    private const long GuestBytes = 256L << 20;
    private const long BudgetBytes = 16L << 20;
    private const long BackendWrites = 128L << 20;        // 10 MiB written before the migration: must arrive
    private const int BackendWriteBytes = 10 << 20;
    private const long LateWrites = 200L << 20;           // 4 MiB rewritten during it: QEMU's dirty log never sees these
    private const int LateWriteBytes = 4 << 20;
    private static readonly TimeSpan MigrationTimeout = TimeSpan.FromMinutes(3);

    public enum Backing
    {
        Memfd,
        FileOnDevShm,
        HugePageMemfd,
    }

    [SkippableTheory]
    [InlineData(Backing.Memfd)]
    [InlineData(Backing.FileOnDevShm)]
    [InlineData(Backing.HugePageMemfd)]
    public void Pages_a_backend_wrote_into_shared_guest_ram_arrive_and_nothing_else_differs(Backing backing)
    {
        using HugePageReservation? hugePages = backing == Backing.HugePageMemfd ? HugePageReservation.TryReserve(2 * GuestBytes) : null;
        Skip.If(backing == Backing.HugePageMemfd && hugePages is null,
            $"huge pages: this machine would not reserve {2 * GuestBytes >> 20} MiB of 2 MiB pages (/proc/sys/vm/nr_hugepages)");
        string sourceFile = $"/dev/shm/rdmacs-test-source-{Guid.NewGuid():N}";
        string destinationFile = $"/dev/shm/rdmacs-test-destination-{Guid.NewGuid():N}";
        try
        {
            if (backing == Backing.FileOnDevShm)
            {
                SharedFileMapping.Fill(sourceFile, GuestBytes, 0);
                SharedFileMapping.Fill(destinationFile, GuestBytes, 0xee); // stale content the migration must replace or clear
            }
            using var source = QemuMachine.StartSource("source", GuestBytes, GuestLoad.Idle, SharedRam(backing, sourceFile));
            using var destination = QemuMachine.StartDestination("destination", GuestBytes, SharedRam(backing, destinationFile));
            Thread.Sleep(1000);
            using SharedFileMapping backend = SharedFileMapping.Open(backing != Backing.FileOnDevShm ? SharedFileMapping.MemfdOf(source.Pid, "memory-backend-memfd") : sourceFile, GuestBytes);
            byte[] expected = Pattern(BackendWriteBytes, seed: 1);
            expected.CopyTo(backend.Slice(BackendWrites, BackendWriteBytes));

            int lateRounds = 0;
            var settings = new MigrationSettings
            {
                Transport = MigrationTransport.RdmaCs, Port = MigrationSettings.FreePort(), ControlPort = MigrationSettings.FreePort(), BudgetBytes = BudgetBytes,
            };
            MigrationOutcome outcome = LiveMigration.Run(source, destination, settings, MigrationTimeout, progress =>
            {
                if (progress.Status == "active")
                {
                    Pattern(LateWriteBytes, seed: 2 + lateRounds++).CopyTo(backend.Slice(LateWrites, LateWriteBytes));
                }
            });

            Assert.True(outcome.Completed, $"migration {outcome.Status}: {outcome.Error}\nsource: {source.LogText}\ndestination: {destination.LogText}");
            Assert.True(lateRounds > 0, "the backend wrote nothing during the migration");
            Assert.Equal(0, outcome.LockedAfterBytes);
            byte[] before = source.ReadMemory();
            byte[] after = destination.ReadMemory();
            Assert.True(after.AsSpan((int)BackendWrites, BackendWriteBytes).SequenceEqual(expected),
                $"the backend's pages did not arrive: first wrong byte at 0x{BackendWrites + GuestMemory.FirstDifference(after.AsSpan((int)BackendWrites, BackendWriteBytes), expected):x}");
            // The late writes may or may not have been copied (QEMU never saw them dirty); everything else is equal.
            long below = GuestMemory.FirstDifference(before.AsSpan(0, (int)LateWrites), after.AsSpan(0, (int)LateWrites));
            Assert.True(below < 0, $"guest memory differs at 0x{below:x}");
            int end = (int)LateWrites + LateWriteBytes;
            long above = GuestMemory.FirstDifference(before.AsSpan(end), after.AsSpan(end));
            Assert.True(above < 0, $"guest memory differs at 0x{end + above:x}");
        }
        finally
        {
            File.Delete(sourceFile);
            File.Delete(destinationFile);
        }
    }

    /// <summary>QEMU's options for guest RAM in a shared memfd, or in a shared file.</summary>
    private static string[] SharedRam(Backing backing, string file) =>
    [
        "-object", backing switch
        {
            Backing.Memfd => $"memory-backend-memfd,id=ram0,size={GuestBytes >> 20}M,share=on",
            Backing.HugePageMemfd => $"memory-backend-memfd,id=ram0,size={GuestBytes >> 20}M,share=on,hugetlb=on,hugetlbsize=2M",
            _ => $"memory-backend-file,id=ram0,size={GuestBytes >> 20}M,mem-path={file},share=on",
        },
        "-machine", "memory-backend=ram0",
    ];

    /// <summary>Nonzero bytes that differ from page to page and from seed to seed.</summary>
    private static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        for (int page = 0; page < length; page += 4096)
        {
            bytes[page] = (byte)(1 + (page / 4096 + seed) % 255); // never an all-zero page
        }
        return bytes;
    }
}
