namespace RdmaCs.Libvirt.Tests;

/// <summary>
/// The libvirt hosts the tests share (each takes seconds to start): A and B run the patched QEMU as root; started
/// when a test first needs them, C runs Debian's QEMU, which has no rdma-cs, and D runs the patched QEMU as libvirt's
/// unprivileged user, so that it may lock only its RLIMIT_MEMLOCK.
/// </summary>
public sealed class LibvirtHosts : IDisposable
{
    private readonly Lazy<LibvirtHost> _stock = new(() => LibvirtHost.Start("c", 0xc, HostQemu.Stock));
    private readonly Lazy<LibvirtHost> _unprivileged = new(() => LibvirtHost.Start("d", 0xd, HostQemu.Patched, qemuUser: "libvirt-qemu"));

    public LibvirtHost A { get; } = LibvirtHost.Start("a", 0xa);
    public LibvirtHost B { get; } = LibvirtHost.Start("b", 0xb);
    public LibvirtHost Stock => _stock.Value;
    public LibvirtHost Unprivileged => _unprivileged.Value;

    private IEnumerable<LibvirtHost> Started =>
        new[] { A, B }.Concat(new[] { _stock, _unprivileged }.Where(host => host.IsValueCreated).Select(host => host.Value));

    /// <summary>Destroys and undefines <paramref name="domain"/> wherever it is, so that the next test starts clean.</summary>
    public void Remove(string domain)
    {
        foreach (LibvirtHost host in Started)
        {
            host.Virsh("destroy", domain);
            host.Virsh("undefine", domain);
        }
    }

    public void Dispose()
    {
        foreach (LibvirtHost host in Started.ToList())
        {
            host.Dispose();
        }
    }
}

/// <summary>Every libvirt test class shares one set of hosts.</summary>
[CollectionDefinition(Name)]
public sealed class LibvirtHostsCollection : ICollectionFixture<LibvirtHosts>
{
    public const string Name = "libvirt hosts";
}
