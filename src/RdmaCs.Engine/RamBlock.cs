namespace RdmaCs;

/// <summary>
/// One contiguous region of guest RAM as QEMU names it (<c>pc.ram</c>, <c>pc.bios</c>, ...): the unit the
/// destination exposes and the engine's writes may never leave.
/// </summary>
/// <param name="Name">QEMU's idstr for the block; unique in a table.</param>
/// <param name="Address">Host virtual address of the block's first byte on this side.</param>
/// <param name="Length">Length in bytes; a whole number of pages.</param>
/// <param name="PrivateAnonymous">
/// True only when the block is known to be private anonymous memory, where a page this process never touched is
/// zero (the engine then finds such pages in <c>/proc/self/pagemap</c> without reading them). False, the default, for
/// shared, file-backed or unknown memory: another process or the file may have put data there behind this process's
/// page tables, so every page is read.
/// </param>
public readonly record struct RamBlock(string Name, nint Address, long Length, bool PrivateAnonymous = false);
