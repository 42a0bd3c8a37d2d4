# Sum the bytes of the input memory (r1 = address, r2 = length) and store
# the 64-bit sum over the last 8 bytes (the memory must be at least 8 long).
    mov %r0, 0
    mov %r3, %r1
    add %r3, %r2
loop:
    jge %r1, %r3, done
    ldxb %r4, [%r1]
    add %r0, %r4
    add %r1, 1
    ja loop
done:
    stxdw [%r3-8], %r0
    exit
