using System.Security;
using RdmaCs.Qemu;

namespace RdmaCs.Libvirt;

/// <summary>
/// The page-writer test guest (tests/guest/pagewriter.s) as a libvirt domain: TCG, booting from a read-only floppy (so
/// migration is safe without shared storage), no devices beyond it, and, through QEMU's command line, its load and a
/// QMP socket of the tests' own beside libvirt's monitor (/var/lib/libvirt/rdmacs/NAME.qmp, so each host has its own).
/// </summary>
public sealed record PageWriterDomain(string Name, long MemoryBytes, GuestLoad Load)
{
    public string Xml
    {
        get
        {
            IEnumerable<string> arguments = Load.LoaderArguments.Concat(["-qmp", $"unix:/var/lib/libvirt/rdmacs/{Name}.qmp,server=on,wait=off"]);
            string qemuArguments = string.Concat(arguments.Select(a => $"\n    <qemu:arg value='{SecurityElement.Escape(a)}'/>"));
            return $"""
                <domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
                  <name>{SecurityElement.Escape(Name)}</name>
                  <memory unit='MiB'>{MemoryBytes >> 20}</memory>
                  <vcpu>1</vcpu>
                  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='fd'/></os>
                  <devices>
                    <emulator>{LibvirtHost.Emulator}</emulator>
                    <disk type='file' device='floppy'>
                      <driver name='qemu' type='raw'/>
                      <source file='{SecurityElement.Escape(QemuPaths.Guest)}'/>
                      <target dev='fda' bus='fdc'/>
                      <readonly/>
                    </disk>
                    <controller type='usb' model='none'/>
                    <video><model type='none'/></video>
                    <memballoon model='none'/>
                  </devices>
                  <qemu:commandline>{qemuArguments}
                  </qemu:commandline>
                </domain>
                """;
        }
    }
}
