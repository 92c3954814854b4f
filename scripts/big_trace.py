#!/usr/bin/env python3
"""Write a 1 GiB .mmt trace (67,108,864 accesses) for the peak-memory measurement in the
README: three in four accesses sweep 256 MiB sequentially, one in four lands anywhere in
16 GiB; one in five is a store.

    python3 scripts/big_trace.py /tmp/big.mmt
    /usr/bin/time -v target/release/mmusim run --trace /tmp/big.mmt --set 'os.phys_mem="64GiB"'
"""
import array
import random
import struct
import sys

N = (1 << 30) // 16
BASE = 0x10_0000_0000

with open(sys.argv[1] if len(sys.argv) > 1 else "big.mmt", "wb") as f:
    # magic, version 1, page-size hint 2^12, record count, reserved
    f.write(b"MMUTRACE" + struct.pack("<IIQQ", 1, 12, N, 0))
    rnd = random.Random(1)
    chunk = 1 << 20
    for start in range(0, N, chunk):
        a = array.array("Q")
        for i in range(start, start + chunk):
            if i % 4:
                va = BASE + ((i * 64) & ((1 << 28) - 1))
            else:
                va = BASE + (rnd.getrandbits(34) & ~7)
            kind = 1 if i % 5 == 0 else 0
            # record: vaddr u64, then instrs u32 = 1, kind u8, 3 zero bytes
            a.append(va)
            a.append(1 | (kind << 32))
        f.write(a.tobytes())
