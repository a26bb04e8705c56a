using System.Numerics;
using RdmaCs.Configuration;
using RdmaCs.Protocol;

namespace RdmaCs.Remote;

/// <summary>
/// How the destination exposes guest RAM within its budget: in windows of <see cref="WindowBytes"/> (a power of two;
/// window i of a RAM block covers bytes [i × size, + size), the last one what is left), at most <see cref="Windows"/>
/// registered at once. Both sides compute a window from an offset the same way; the destination chooses the size.
/// </summary>
public readonly record struct WindowLayout(long WindowBytes, int Windows)
{
    /// <summary>
    /// The largest window: a transparent huge page, as the source's largest block (registering part of one splits it), and
    /// at 80–100 ms per GB about 0.2 ms to register on a NIC, well below the time to write it at 25 Gb/s and more.
    /// </summary>
    public const long MaxWindowBytes = 2L << 20;

    /// <summary>
    /// The fewest windows a budget is split into when it can be: the source keeps writing into those it holds while the
    /// destination registers the next, so one window would serialise registering and writing.
    /// </summary>
    public const int FewestWindows = 4;

    /// <summary>
    /// The layout for a destination budget of <paramref name="budgetBytes"/>, of which <paramref name="reservedBytes"/> are
    /// pinned for other things (the fence target, on a NIC).
    /// </summary>
    public static WindowLayout For(long budgetBytes, long reservedBytes, int pageSize)
    {
        long usable = budgetBytes - reservedBytes;
        if (usable < pageSize)
        {
            throw new EngineConfigurationException(
                $"a destination budget of {ByteSize.Format(budgetBytes)} leaves {ByteSize.Format(Math.Max(usable, 0))} for guest RAM" +
                (reservedBytes > 0 ? $" beside the {ByteSize.Format(reservedBytes)} the fabric pins for itself" : "") +
                $": not even one page ({ByteSize.Format(pageSize)})");
        }
        long wanted = Math.Min(MaxWindowBytes, usable / FewestWindows);
        long window = wanted < pageSize ? pageSize : 1L << BitOperations.Log2((ulong)wanted);
        return new WindowLayout(window, (int)Math.Min(int.MaxValue, usable / window));
    }

    /// <summary>The window that holds byte <paramref name="offset"/> of RAM block <paramref name="block"/>.</summary>
    public WindowId WindowAt(int block, long offset) => new(block, offset / WindowBytes);

    /// <summary>Where <paramref name="window"/> starts in its RAM block.</summary>
    public long Start(WindowId window) => window.Index * WindowBytes;

    /// <summary>How long <paramref name="window"/> is in a RAM block of <paramref name="blockLength"/> bytes.</summary>
    public long Length(WindowId window, long blockLength) => Math.Min(WindowBytes, blockLength - Start(window));

    public override string ToString() => $"{Windows} window(s) of {ByteSize.Format(WindowBytes)}";
}
