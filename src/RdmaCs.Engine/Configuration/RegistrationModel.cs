namespace RdmaCs.Configuration;

/// <summary>
/// What registering costs on a NIC, and how many threads it takes to keep a link busy: the model of docs/hardware.md.
/// Registering pins and maps every page on the calling thread; deregistering unmaps and unpins. Each registered byte is
/// deregistered once, so a thread turns over at most 1 / (registration + deregistration cost) bytes per second.
/// </summary>
public static class RegistrationModel
{
    /// <summary>
    /// Published registration cost: 80–100 ms per GB on verbs NICs (256 GB in over 20 s, ofiwg/libfabric#4738; 500 GB in
    /// 49 s, kvcache-ai/Mooncake#855); 90 µs per MiB.
    /// </summary>
    public static readonly TimeSpan PublishedRegistrationPerMiB = TimeSpan.FromTicks(900); // 90 µs

    /// <summary>Published deregistration cost: 500 GB in 11.75 s (Mooncake#855), about 22 µs per MiB.</summary>
    public static readonly TimeSpan PublishedDeregistrationPerMiB = TimeSpan.FromTicks(220); // 22 µs

    /// <summary>Headroom the thread count keeps over the link: registration must not be what limits.</summary>
    public const double Headroom = 1.1;

    /// <summary>
    /// Registering threads that turn over <paramref name="linkBitsPerSecond"/>' worth of registrations with
    /// <see cref="Headroom"/>: ceil(link × (registration + deregistration cost per byte) × headroom), at least 1.
    /// </summary>
    public static int ThreadsFor(double linkBitsPerSecond, TimeSpan registrationPerMiB, TimeSpan deregistrationPerMiB)
    {
        double secondsPerByte = (registrationPerMiB + deregistrationPerMiB).TotalSeconds / (1 << 20);
        return Math.Max(1, (int)Math.Ceiling(linkBitsPerSecond / 8 * secondsPerByte * Headroom));
    }

    /// <summary><see cref="ThreadsFor(double, TimeSpan, TimeSpan)"/> at the published costs.</summary>
    public static int ThreadsFor(double linkBitsPerSecond) =>
        ThreadsFor(linkBitsPerSecond, PublishedRegistrationPerMiB, PublishedDeregistrationPerMiB);
}
