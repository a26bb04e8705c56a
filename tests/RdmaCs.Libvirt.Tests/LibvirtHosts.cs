namespace RdmaCs.Libvirt.Tests;

/// <summary>
/// The libvirt hosts the tests share (each takes seconds to start): A and B run the patched QEMU; C, started when a
/// test first needs it, runs Debian's QEMU, which has no rdma-cs.
/// </summary>
public sealed class LibvirtHosts : IDisposable
{
    private readonly Lazy<LibvirtHost> _stock = new(() => LibvirtHost.Start("c", 0xc, HostQemu.Stock));

    public LibvirtHost A { get; } = LibvirtHost.Start("a", 0xa);
    public LibvirtHost B { get; } = LibvirtHost.Start("b", 0xb);
    public LibvirtHost Stock => _stock.Value;

    /// <summary>Destroys and undefines <paramref name="domain"/> wherever it is, so that the next test starts clean.</summary>
    public void Remove(string domain)
    {
        foreach (LibvirtHost host in new[] { A, B }.Concat(_stock.IsValueCreated ? [_stock.Value] : []))
        {
            host.Virsh("destroy", domain);
            host.Virsh("undefine", domain);
        }
    }

    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
        if (_stock.IsValueCreated)
        {
            _stock.Value.Dispose();
        }
    }
}

/// <summary>Every libvirt test class shares one set of hosts.</summary>
[CollectionDefinition(Name)]
public sealed class LibvirtHostsCollection : ICollectionFixture<LibvirtHosts>
{
    public const string Name = "libvirt hosts";
}
