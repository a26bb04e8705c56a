using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using RdmaCs.Memory;

namespace RdmaCs.Qemu.Tests;

/// <summary>
/// A guest that keeps rewriting all of its RAM, live-migrated between two real QEMU processes over rdma-cs with a
/// small budget: the memories end equal byte for byte, every page is whole, and the source QEMU's VmLck, sampled by
/// the kernel's count, never exceeds the budget and returns to zero.
/// </summary>
public sealed class RdmaCsMigrationTests
{
    private const long GuestBytes = 256L << 20;
    private const long BudgetBytes = 16L << 20;
    private static readonly TimeSpan MigrationTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public void A_live_guest_migrates_over_rdma_cs_with_equal_memory_and_pinned_memory_within_budget()
    {
        int port = FreePort();
        string options = $"token=qemu-test,provider=tcp,budget={BudgetBytes},control-port={FreePort()},timeout-ms=60000";
        string uri = $"rdma-cs:127.0.0.1:{port}";
        using var destination = new QemuProcess("destination", GuestBytes, options, "-incoming", uri, "-S");
        using var source = new QemuProcess("source", GuestBytes, options);
        Thread.Sleep(1000); // let the guest boot and start rewriting pages

        source.Qmp.Execute("migrate-set-parameters", new() { ["max-bandwidth"] = 10L << 30, ["downtime-limit"] = 300 });
        using var locked = new LockedMemorySampler(source.Pid, TimeSpan.FromMilliseconds(2));
        source.Qmp.Execute("migrate", new() { ["uri"] = uri });
        JsonNode status = WaitForMigration(source);
        locked.Dispose();

        Assert.True((string?)status["status"] == "completed",
            $"migration {status["status"]}: {status["error-desc"]}\nsource: {string.Join("\n", source.Log)}\ndestination: {string.Join("\n", destination.Log)}");
        Assert.True(locked.Samples.Count > 10, "VmLck was hardly sampled");
        Assert.InRange(locked.PeakBytes, 0, BudgetBytes);
        Assert.True(locked.PeakBytes > 0, "the plugin pinned nothing: did the pages go through it?");
        Assert.True((long)status["ram"]!["normal"]! > GuestBytes / 4096, "fewer pages than the guest's RAM went through");
        Assert.Equal(0, ProcessMemoryStatus.ReadLockedBytes(source.Pid));

        byte[] before = source.ReadMemory(GuestBytes);
        byte[] after = destination.ReadMemory(GuestBytes);
        int first = before.AsSpan().CommonPrefixLength(after);
        Assert.True(first == before.Length, $"guest memory differs first at 0x{first:x}");
        AssertPagesAreWhole(after);
    }

    private static JsonNode WaitForMigration(QemuProcess source)
    {
        DateTime deadline = DateTime.UtcNow + MigrationTimeout;
        while (true)
        {
            JsonNode status = source.Qmp.Execute("query-migrate")!;
            if ((string?)status["status"] is "completed" or "failed" or "cancelled" || DateTime.UtcNow > deadline)
            {
                return status;
            }
            Thread.Sleep(50);
        }
    }

    /// <summary>
    /// The guest fills each page above 1 MiB with one 32-bit generation, page after page; so every page is uniform
    /// but the one it was writing when it stopped, and generations never go up from one page to the next except
    /// there.
    /// </summary>
    private static void AssertPagesAreWhole(byte[] memory)
    {
        ReadOnlySpan<uint> words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(memory);
        int torn = 0;
        for (int page = 0x100000 / 4096; page < memory.Length / 4096; page++)
        {
            ReadOnlySpan<uint> content = words.Slice(page * 1024, 1024);
            if (content.IndexOfAnyExcept(content[0]) >= 0)
            {
                torn++;
            }
        }
        Assert.InRange(torn, 0, 1);
        Assert.NotEqual(0u, words[0x100000 / 4]); // the guest did run
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
