namespace RdmaCs.Fabric.LibFabric;

/// <summary>
/// How the source names one destination RAM block in RMA writes: the destination's registration key, and the
/// address of the block's first byte as the provider wants it (its virtual address under FI_MR_VIRT_ADDR, else 0:
/// remote addresses are then offsets from the registration).
/// </summary>
public readonly record struct RemoteBlock(string Name, long Length, ulong Key, ulong BaseAddress);
