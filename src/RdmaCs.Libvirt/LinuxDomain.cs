using System.Security;
using RdmaCs.Qemu;

namespace RdmaCs.Libvirt;

/// <summary>
/// The Linux test guest (<see cref="LinuxGuest"/>) as a libvirt domain: direct kernel boot with its initramfs, the serial
/// console in a file of the host's own (/var/lib/libvirt/rdmacs/NAME.console; <see cref="LibvirtHost.ConsoleLog"/>).
/// </summary>
public sealed record LinuxDomain(string Name, long MemoryBytes, LinuxGuest Guest) : TestDomain(Name, MemoryBytes)
{
    protected override string OsXml => $"""
        <os>
            <type arch='x86_64' machine='pc'>hvm</type>
            <kernel>{SecurityElement.Escape(QemuPaths.LinuxKernel)}</kernel>
            <initrd>{SecurityElement.Escape(Guest.InitramfsPath)}</initrd>
            <cmdline>{SecurityElement.Escape(Guest.CommandLine)}</cmdline>
          </os>
        """;

    protected override string DevicesXml => $"""
        <serial type='file'>
          <source path='/var/lib/libvirt/rdmacs/{SecurityElement.Escape(Name)}.console'/>
          <target port='0'/>
        </serial>
        """;
}
