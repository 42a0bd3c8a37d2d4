#!/usr/bin/env python3
"""Regenerates image.golden: libpcap's own bpf_image() text for every 8-bit
opcode with a few k/jt/jf values, called through ctypes, so FormatListing is
compared with libpcap byte for byte even for instructions no tcpdump filter
expression produces. Needs libpcap (libpcap0.8 on Debian)."""
import ctypes, ctypes.util, sys

lib = ctypes.CDLL(ctypes.util.find_library("pcap") or "libpcap.so.0.8")

class Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]

lib.bpf_image.restype = ctypes.c_char_p
lib.bpf_image.argtypes = [ctypes.POINTER(Insn), ctypes.c_int]

ks = [0, 1, 14, 0x800, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffff000, 0xfffff004, 0xfffff028,
      0xfffff03c, 0xfffff040, 0xfff00000, 0xffe00000]
out = []
n = 0
for code in list(range(256)) + [0x100, 0x115, 0xffff]:
    for k in ks:
        jt, jf = (n * 7) % 256, (n * 13) % 256
        i = Insn(code, jt, jf, k)
        img = lib.bpf_image(ctypes.byref(i), n).decode()
        out.append("%d %d %d %d %d\t%s" % (n, code, jt, jf, k, img))
        n = (n + 1) % 1000
for code in (0x20, 0x28, 0x30, 0x40, 0xb1):
    for off in range(-4, 72, 4):
        k = (0xfffff000 + off) & 0xffffffff
        i = Insn(code, 0, 0, k)
        img = lib.bpf_image(ctypes.byref(i), n).decode()
        out.append("%d %d %d %d %d\t%s" % (n, code, 0, 0, k, img))
        n = (n + 1) % 1000
sys.stdout.write("\n".join(out) + "\n")
