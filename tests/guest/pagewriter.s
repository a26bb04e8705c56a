# The test guest: a 512-byte boot sector that switches to 32-bit protected mode and then, for ever, fills 4 KiB pages
# from 1 MiB up with one 32-bit generation number each, then moves to the next generation. So every page of guest
# RAM above 1 MiB is uniform except, at most, the one page being written when the guest is stopped; a page that is
# lost, stale or torn by a migration is visible. Each finished sweep writes its generation to debug port 0xe9 (the
# low byte), which QEMU's isa-debugcon can show.
#
# Its load is set by two 32-bit words at 0x90000, which QEMU's loader device can put there
# (-device loader,addr=0x90000,data=N,data-len=4); both are zero when absent:
#   0x90000  hot set: bytes above 1 MiB rewritten sweep after sweep (0: all RAM)
#   0x90004  flags: bit 0 set = leave the rest of RAM untouched (zero); clear = fill all of it once, generation 1
#                   bit 1 set = rewrite the hot set in a scattered page order (page i of a sweep is (i * P) mod N, P a
#                   prime above any page count below 4 GiB), as a guest touching memory at random does; clear = ascending
#   0x90008  scratch: pages left in the current scattered sweep
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
    testl $1, 0x90004
    jnz hot_set
    mov $0x100000, %edi         # fill all of RAM once
fill:
    mov %ebx, %eax
    mov $1024, %ecx
    rep stosl
    cmp %edx, %edi
    jb fill
    inc %ebx
hot_set:
    mov 0x90000, %esi           # esi = end of the hot set
    add $0x100000, %esi
    cmp $0x100000, %esi
    je all_ram
    cmp %edx, %esi
    jbe sweep
all_ram:
    mov %edx, %esi
sweep:
    testl $2, 0x90004
    jnz scattered
    mov $0x100000, %edi
page:
    mov %ebx, %eax
    mov $1024, %ecx
    rep stosl                   # one whole page, one value
    cmp %esi, %edi
    jb page
end_of_sweep:
    mov %bl, %al
    out %al, $0xe9
    inc %ebx
    jmp sweep

scattered:
    mov %esi, %ebp
    sub $0x100000, %ebp
    shr $12, %ebp               # ebp = N, pages in the hot set
    mov %ebp, 0x90008
    xor %edx, %edx              # edx = index of the next page
scattered_page:
    mov %edx, %edi
    shl $12, %edi
    add $0x100000, %edi
    mov %ebx, %eax
    mov $1024, %ecx
    rep stosl
    lea 1000003(%edx), %eax     # next index: (index + P) mod N, a full cycle since P is a prime above N
    xor %edx, %edx
    div %ebp
    decl 0x90008
    jnz scattered_page
    jmp end_of_sweep

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
