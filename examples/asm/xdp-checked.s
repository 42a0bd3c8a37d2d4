# The same read, after the check `data + 14 <= data_end`: accepted.
    ldxw %r2, [%r1]        # r2 = ctx->data
    ldxw %r3, [%r1+4]      # r3 = ctx->data_end
    mov %r4, %r2
    add %r4, 14
    jgt %r4, %r3, short
    ldxh %r0, [%r2+12]     # the EtherType
    exit
short:
    mov %r0, 1             # XDP_DROP
    exit
