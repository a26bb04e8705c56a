namespace RdmaCs.Libvirt;

/// <summary>Which QEMU a libvirt host runs its domains with.</summary>
public enum HostQemu
{
    /// <summary>build/qemu: QEMU 7.2 with qemu-patches/, the rdma-cs plugin named by <c>-global</c>.</summary>
    Patched,

    /// <summary>Debian's qemu-system-x86, which has no rdma-cs.</summary>
    Stock,
}
