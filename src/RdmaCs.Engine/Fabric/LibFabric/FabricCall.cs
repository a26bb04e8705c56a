using System.Runtime.InteropServices;
using RdmaCs.Bindings.LibFabric;

namespace RdmaCs.Fabric.LibFabric;

/// <summary>Turns libfabric return codes into exceptions that say which call failed and why.</summary>
internal static unsafe class FabricCall
{
    /// <summary>fi_strerror's text for a (negative or positive) libfabric error number.</summary>
    public static string Describe(long error) =>
        Marshal.PtrToStringUTF8((nint)Fi.fi_strerror((int)Math.Abs(error))) ?? $"error {error}";

    /// <summary>Throws <see cref="FabricException"/> when <paramref name="result"/> is negative.</summary>
    public static long Check(long result, string call)
    {
        if (result < 0)
        {
            throw new FabricException($"{call} failed: {Describe(result)} ({result})", (int)result);
        }
        return result;
    }

    public static bool IsAgain(long result) => result == -Fi.FI_EAGAIN;
}
