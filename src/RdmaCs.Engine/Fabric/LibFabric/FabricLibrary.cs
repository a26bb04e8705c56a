using RdmaCs.Bindings.LibFabric;

namespace RdmaCs.Fabric.LibFabric;

/// <summary>Loading libfabric, which is slow enough the first time in a process to start it early.</summary>
public static unsafe class FabricLibrary
{
    private static int _started;
    private static readonly ManualResetEventSlim _warmedUp = new();

    /// <summary>
    /// Loads libfabric and initialises its providers on a background thread, once per process. The first
    /// <c>fi_getinfo</c> of a process costs about 0.3 s on Debian 12 (its libfabric links the PSM provider, whose
    /// libinfinipath calibrates the CPU clock with usleep when it is loaded); started when the plugin is loaded, it is
    /// done before a migration needs the fabric. Later <c>fi_getinfo</c> calls wait for it, and errors are left to them.
    /// </summary>
    public static void WarmUpInBackground()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            return;
        }
        new Thread(() =>
        {
            try
            {
                fi_info* all = null;
                if (Fi.fi_getinfo(Fi.FI_VERSION(1, 17), null, null, 0, null, &all) == 0)
                {
                    Fi.fi_freeinfo(all);
                }
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                // Reported, with its reason, by the first real use.
            }
            finally
            {
                _warmedUp.Set();
            }
        }) { IsBackground = true, Name = "rdmacs-fabric-warm-up" }.Start();
    }

    /// <summary>
    /// Waits until the background loading is done, if it was started: before a process exits, since its libraries'
    /// destructors must not run while that thread is inside dlopen. False when <paramref name="timeout"/> passed.
    /// </summary>
    public static bool WaitForWarmUp(TimeSpan timeout) => Volatile.Read(ref _started) == 0 || _warmedUp.Wait(timeout);
}
