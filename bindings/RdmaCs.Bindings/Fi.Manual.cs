namespace RdmaCs.Bindings.LibFabric;

// Hand-written companions of the generated bindings: what C writes as function-like macros.
public static partial class Fi
{
    /// <summary><c>FI_VERSION(major, minor)</c>: the API version an application asks <c>fi_getinfo</c> for.</summary>
    public static uint FI_VERSION(uint major, uint minor) => (major << 16) | minor;

    /// <summary><c>FI_MAJOR(version)</c>.</summary>
    public static uint FI_MAJOR(uint version) => version >> 16;

    /// <summary><c>FI_MINOR(version)</c>.</summary>
    public static uint FI_MINOR(uint version) => version & 0xffff;
}
