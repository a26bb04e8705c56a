using System.Security;

namespace RdmaCs.Libvirt;

/// <summary>
/// A test guest as a libvirt domain: TCG, one vCPU, no devices beyond what the guest itself needs (so migration is safe
/// without shared storage), and, through QEMU's command line, a QMP socket of the tests' own beside libvirt's monitor
/// (/var/lib/libvirt/rdmacs/NAME.qmp, so each host has its own).
/// </summary>
public abstract record TestDomain(string Name, long MemoryBytes)
{
    /// <summary>The domain's &lt;os&gt; element.</summary>
    protected abstract string OsXml { get; }

    /// <summary>Devices beyond the emulator.</summary>
    protected abstract string DevicesXml { get; }

    /// <summary>QEMU options of the guest's own, before the QMP socket.</summary>
    protected virtual IEnumerable<string> QemuArguments => [];

    public string Xml
    {
        get
        {
            IEnumerable<string> arguments = QemuArguments.Concat(["-qmp", $"unix:/var/lib/libvirt/rdmacs/{Name}.qmp,server=on,wait=off"]);
            string qemuArguments = string.Concat(arguments.Select(a => $"\n    <qemu:arg value='{SecurityElement.Escape(a)}'/>"));
            return $"""
                <domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
                  <name>{SecurityElement.Escape(Name)}</name>
                  <memory unit='MiB'>{MemoryBytes >> 20}</memory>
                  <vcpu>1</vcpu>
                  {OsXml}
                  <devices>
                    <emulator>{LibvirtHost.Emulator}</emulator>
                    {DevicesXml}
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
