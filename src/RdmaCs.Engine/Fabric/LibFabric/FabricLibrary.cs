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

    private static readonly Lazy<int[]> _loaded = new(LoadKeepingSignalHandlers, LazyThreadSafetyMode.ExecutionAndPublication);
    private static delegate* unmanaged<void> _waitForPreload;

    /// <summary>
    /// Loads libfabric once per process, restoring every signal handler its loading replaced; returns the signals it
    /// had taken. Debian's libfabric links libpsm2 (Omni-Path), whose constructor installs a backtrace printer for
    /// SIGINT, SIGILL, SIGABRT, SIGBUS, SIGSEGV and SIGTERM: in QEMU that took SIGTERM from QEMU's orderly shutdown, and
    /// SIGSEGV from the .NET runtime (managed null references became crashes) and from the host. Every use of libfabric
    /// goes through here first.
    /// </summary>
    public static IReadOnlyList<int> EnsureLoaded() => _loaded.Value;

    /// <summary>
    /// In QEMU the shim loads libfabric ahead of time on a native thread of its own (shim/fabric-preload.c), keeping
    /// the signal handlers the same way; <paramref name="wait"/> waits for it. Loading here waits for it first, so that
    /// this side never takes a handler snapshot while the shim's loading is half done. Called on the host's thread
    /// before the shim starts loading: libfabric's registration caches are turned off here (<see cref="RegistrationCaches"/>).
    /// </summary>
    public static void PreloadedBy(delegate* unmanaged<void> wait)
    {
        RegistrationCaches.TurnOff(); // before the shim's loading initialises the providers
        _waitForPreload = wait;
    }

    private static int[] LoadKeepingSignalHandlers()
    {
        if (_waitForPreload != null)
        {
            _waitForPreload();
        }
        RegistrationCaches.TurnOff();
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
