namespace RdmaCs.Qemu.Tests;

/// <summary>
/// 2 MiB huge pages reserved in the kernel's pool (/proc/sys/vm/nr_hugepages, root) for a test, and given back after.
/// </summary>
internal sealed class HugePageReservation : IDisposable
{
    private const string Pool = "/proc/sys/vm/nr_hugepages";
    private const long HugePageBytes = 2L << 20;
    private readonly long _before;

    private HugePageReservation(long before) => _before = before;

    /// <summary>Grows the pool by <paramref name="bytes"/>; null when the kernel will not (not root, memory too fragmented).</summary>
    public static HugePageReservation? TryReserve(long bytes)
    {
        try
        {
            long before = long.Parse(File.ReadAllText(Pool).Trim());
            long wanted = before + bytes / HugePageBytes;
            File.WriteAllText(Pool, wanted.ToString());
            var reservation = new HugePageReservation(before);
            if (long.Parse(File.ReadAllText(Pool).Trim()) < wanted)
            {
                reservation.Dispose();
                return null;
            }
            return reservation;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        try
        {
            File.WriteAllText(Pool, _before.ToString());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
