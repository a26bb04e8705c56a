using System.Runtime.InteropServices;

namespace RdmaCs.Fabric.LibFabric;

/// <summary>
/// What a progress thread does when the provider had nothing for it: sleep a few tens of microseconds. Spinning
/// (even with sched_yield) takes a core from the guest and the other side on a busy host; fi_cq_sread sleeps in the
/// provider's wait set, which the tcp provider wakes late (a migration took 17x as long). A socket buffer holds
/// megabytes, so a 50 µs pause between polls costs no throughput, as long as the thread pauses only when the provider
/// has no input left (<see cref="FabricEndpoint.HasInput"/>): it reads one large message per poll.
/// </summary>
internal static partial class ProgressPause
{
    private const uint IdleMicroseconds = 50;

    /// <summary>After a poll that returned nothing: pauses, unless <paramref name="endpoint"/> still has input to read.</summary>
    public static void Idle(FabricEndpoint endpoint)
    {
        if (!endpoint.HasInput)
        {
            usleep(IdleMicroseconds);
        }
    }

    [LibraryImport("libc", EntryPoint = "usleep")]
    private static partial int usleep(uint microseconds);
}
