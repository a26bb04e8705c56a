namespace RdmaCs.Bindings.Plugin;

// Hand-written companions of the generated plugin ABI: what the header writes as function-like macros.
public static partial class RdmaCsAbi
{
    /// <summary><c>RDMA_CS_ABI_MAJOR_OF(v)</c>.</summary>
    public static uint RDMA_CS_ABI_MAJOR_OF(uint version) => version >> 16;
}
