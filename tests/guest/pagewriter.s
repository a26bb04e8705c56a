# The test guest: a 512-byte boot sector that switches to 32-bit protected mode and then, for ever, fills every
# 4 KiB page from 1 MiB to the top of RAM with one 32-bit generation number, then moves to the next generation.
# So every page of guest RAM above 1 MiB is uniform except, at most, the one page being written when the guest
# is stopped; a page that is lost, stale or torn by a migration is visible. Each finished sweep writes its
# generation to debug port 0xe9 (the low byte), which QEMU's isa-debugcon can show.
    .code16
    .globl _start
_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $0x7c00, %sp
    in $0x92, %al               # fast A20 gate: address memory above 1 MiB
    or $2, %al
    out %al, $0x92
    lgdt gdt_descriptor
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmp $0x08, $protected

    .code32
protected:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    # Top of RAM from the CMOS: registers 0x34/0x35 hold the RAM above 16 MiB in 64 KiB units.
    mov $0x35, %al
    out %al, $0x70
    in $0x71, %al
    movzbl %al, %edx
    shl $8, %edx
    mov $0x34, %al
    out %al, $0x70
    in $0x71, %al
    movzbl %al, %eax
    or %eax, %edx
    shl $16, %edx
    add $0x1000000, %edx        # edx = end of RAM below 4 GiB
    mov $1, %ebx                # generation
sweep:
    mov $0x100000, %edi
page:
    mov %ebx, %eax
    mov $1024, %ecx
    rep stosl                   # one whole page, one value
    cmp %edx, %edi
    jb page
    mov %bl, %al
    out %al, $0xe9
    inc %ebx
    jmp sweep

    .p2align 3
gdt:
    .quad 0                     # null
    .quad 0x00cf9a000000ffff    # 0x08: code, flat 4 GiB
    .quad 0x00cf92000000ffff    # 0x10: data, flat 4 GiB
gdt_descriptor:
    .word gdt_descriptor - gdt - 1
    .long gdt

    .org 510
    .word 0xaa55
