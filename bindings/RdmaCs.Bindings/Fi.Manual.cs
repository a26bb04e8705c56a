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

    /// <summary>
    /// <c>FI_OPT_MAX_RMA_SIZE</c> (an FI_OPT_ENDPOINT option, size_t): the largest RMA one operation may move. Added after
    /// libfabric 1.17, whose headers the bindings are generated from, with this value (fi_endpoint.h of 1.20 and later);
    /// a 1.17 provider answers -FI_ENOPROTOOPT, and <c>ep_attr->max_msg_size</c> is the bound then.
    /// </summary>
    public const int FI_OPT_MAX_RMA_SIZE = 14;
}
