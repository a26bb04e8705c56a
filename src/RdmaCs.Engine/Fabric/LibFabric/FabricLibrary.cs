using System.Runtime.InteropServices;
using RdmaCs.Bindings.LibFabric;

namespace RdmaCs.Fabric.LibFabric;

/// <summary>
/// Loading libfabric: early (it is slow the first time in a process), and without letting it take the host's signals.
/// </summary>
public static unsafe partial class FabricLibrary
{
    /// <summary>Signals whose handlers libfabric's dependencies replace when they are loaded (see <see cref="EnsureLoaded"/>).</summary>
    private static readonly int[] GuardedSignals = [1, 2, 3, 4, 6, 7, 8, 11, 15]; // HUP INT QUIT ILL ABRT BUS FPE SEGV TERM

    /// <summary>glibc's struct sigaction on x86-64 and arm64 is 152 bytes; kept whole, never interpreted but for the handler.</summary>
    private const int SigactionBytes = 256;

    private static int _started;
    private static readonly ManualResetEventSlim _warmedUp = new();
    private static readonly Lazy<int[]> _loaded = new(LoadKeepingSignalHandlers, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// Loads libfabric once per process, restoring every signal handler its loading replaced; returns the signals it
    /// had taken. Debian's libfabric links libpsm2 (Omni-Path), whose constructor installs a backtrace printer for
    /// SIGINT, SIGILL, SIGABRT, SIGBUS, SIGSEGV and SIGTERM: in QEMU that took SIGTERM from QEMU's orderly shutdown, and
    /// SIGSEGV from the .NET runtime (managed null references became crashes) and from the host. Every use of libfabric
    /// goes through here first.
    /// </summary>
    public static IReadOnlyList<int> EnsureLoaded() => _loaded.Value;

    /// <summary>
    /// Loads libfabric and initialises its providers on a background thread, once per process. The first
    /// <c>fi_getinfo</c> of a process costs about 0.3 s on Debian 12 (its libfabric links the PSM provider, whose
    /// libinfinipath calibrates the CPU clock with usleep when it is loaded); started when the plugin is loaded, it is
    /// done before a migration needs the fabric. Later <c>fi_getinfo</c> calls wait for it, and errors are left to them.
    /// It names the tcp provider, as every later query names its provider, so that no other provider's probe runs.
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
                EnsureLoaded();
                fi_info* hints = Fi.fi_dupinfo(null);
                if (hints == null)
                {
                    return;
                }
                // fi_freeinfo frees prov_name with free(); CoTaskMem is malloc on Linux.
                hints->fabric_attr->prov_name = (sbyte*)Marshal.StringToCoTaskMemUTF8("tcp");
                fi_info* found = null;
                if (Fi.fi_getinfo(Fi.FI_VERSION(1, 17), null, null, 0, hints, &found) == 0)
                {
                    Fi.fi_freeinfo(found);
                }
                Fi.fi_freeinfo(hints);
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

    private static int[] LoadKeepingSignalHandlers()
    {
        byte[] before = new byte[GuardedSignals.Length * SigactionBytes];
        byte* now = stackalloc byte[SigactionBytes];
        var restored = new List<int>();
        fixed (byte* saved = before)
        {
            for (int i = 0; i < GuardedSignals.Length; i++)
            {
                sigaction(GuardedSignals[i], null, saved + i * SigactionBytes);
            }
            // Loads it as the bindings' DllImport would (same name, same search), so that they find it loaded.
            NativeLibrary.TryLoad(Fi.Library, typeof(Fi).Assembly, null, out _);
            for (int i = 0; i < GuardedSignals.Length; i++)
            {
                byte* mine = saved + i * SigactionBytes;
                // The handler (sa_handler / sa_sigaction) is the struct's first pointer.
                if (sigaction(GuardedSignals[i], null, now) == 0 && *(nint*)now != *(nint*)mine)
                {
                    sigaction(GuardedSignals[i], mine, null);
                    restored.Add(GuardedSignals[i]);
                }
            }
        }
        return [.. restored];
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int sigaction(int signal, byte* action, byte* previous);
}
