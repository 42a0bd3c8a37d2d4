# Count the primes below 1000 by trial division.
# r6 = candidate, r7 = divisor, r0 = count
    mov %r0, 0
    mov %r6, 2
outer:
    jge %r6, 1000, done
    mov %r7, 2
inner:
    mov %r8, %r7
    mul %r8, %r7
    jgt %r8, %r6, prime
    mov %r9, %r6
    mod %r9, %r7
    jeq %r9, 0, next
    add %r7, 1
    ja inner
prime:
    add %r0, 1
next:
    add %r6, 1
    ja outer
done:
    exit
