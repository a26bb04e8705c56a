namespace RdmaCs.Qemu;

/// <summary>
/// What the page-writer guest (tests/guest/pagewriter.s) does: rewrite a hot set of its RAM above 1 MiB, sweep after
/// sweep, after filling all of its RAM once or leaving the rest zero. Passed to it through QEMU's loader device.
/// </summary>
/// <param name="HotBytes">Bytes above 1 MiB rewritten continuously; 0 for all of RAM.</param>
/// <param name="LeaveRestZero">True: only the hot set is ever written (a mostly idle guest, most of its RAM zero).</param>
public sealed record GuestLoad(long HotBytes, bool LeaveRestZero = false)
{
    /// <summary>Every page rewritten continuously: the hardest load (migration converges only by chance).</summary>
    public static GuestLoad AllMemory { get; } = new(0);

    /// <summary>All RAM filled once, then a 64 MiB working set rewritten continuously: a busy guest.</summary>
    public static GuestLoad Busy { get; } = new(64L << 20);

    /// <summary>Only 8 MiB ever written; the rest stays zero: a mostly idle guest.</summary>
    public static GuestLoad Idle { get; } = new(8L << 20, LeaveRestZero: true);

    /// <summary>The QEMU options that hand the load to the guest (two loader devices).</summary>
    public IEnumerable<string> LoaderArguments =>
    [
        "-device", $"loader,addr=0x90000,data={HotBytes},data-len=4",
        "-device", $"loader,addr=0x90004,data={(LeaveRestZero ? 1 : 0)},data-len=4",
    ];

    public override string ToString() =>
        HotBytes == 0 ? "rewriting all of its RAM" : $"rewriting {HotBytes >> 20} MiB{(LeaveRestZero ? ", the rest of its RAM zero" : " after filling all of its RAM")}";
}
