using System.Security;
using RdmaCs.Qemu;

namespace RdmaCs.Libvirt;

/// <summary>
/// The page-writer test guest (tests/guest/pagewriter.s) as a libvirt domain, booting from a read-only floppy, its load
/// given through QEMU's loader devices.
/// </summary>
public sealed record PageWriterDomain(string Name, long MemoryBytes, GuestLoad Load) : TestDomain(Name, MemoryBytes)
{
    protected override string OsXml => "<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='fd'/></os>";

    protected override string DevicesXml => $"""
        <disk type='file' device='floppy'>
          <driver name='qemu' type='raw'/>
          <source file='{SecurityElement.Escape(QemuPaths.Guest)}'/>
          <target dev='fda' bus='fdc'/>
          <readonly/>
        </disk>
        """;

    protected override IEnumerable<string> QemuArguments => Load.LoaderArguments;
}
