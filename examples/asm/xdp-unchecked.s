# An XDP program that reads the EtherType without first proving the packet is
# long enough: the verifier rejects it and says which check is missing.
    ldxw %r2, [%r1]        # r2 = ctx->data
    ldxh %r0, [%r2+12]     # the EtherType, unchecked
    exit
