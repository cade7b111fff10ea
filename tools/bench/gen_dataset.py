#!/usr/bin/env python3
"""Deterministic benchmark dataset for tools/bench/store (stdlib only).

  gen_dataset.py gen    DIR SIZE_MIB SEED   write a fresh dataset of about SIZE_MIB MiB into DIR
  gen_dataset.py modify DIR PERCENT  SEED   overwrite 4 KiB in place in PERCENT % of the files

Dataset (fractions of the total bytes):
  58 %  small files, 1-64 KiB each (~36k files at 2000 MiB) in nested dirs tree/tNN/sNN/lNNN/
  38 %  large files (several, ~190 MiB each at 2000 MiB) built from 64 KiB-2 MiB blocks
   4 %  dup/: byte-identical copies of randomly chosen small files
Compressibility is ~50/50: each small file, and each block of a large file, is either
text-like (log lines cut from a generated corpus, letters re-permuted per piece so pieces are
unique but keep text statistics; zstd -3 gets ~3x) or random bytes (incompressible). 10 % of
the blocks of the large files repeat an earlier block (from any large file) at an unaligned
offset, so there is duplicate content inside and across files too.
Same SIZE_MIB and SEED give byte-identical content and layout (only mtimes differ).
"""
import itertools
import os
import random
import sys

KIB = 1024
MIB = 1024 * 1024
LETTERS = b"abcdefghijklmnopqrstuvwxyz"


def make_pool(rng, size=4 * MIB):
    """A corpus of log-like text lines with Zipf-distributed pseudo-words."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = ["".join(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(4000)]
    cum = list(itertools.accumulate(1.0 / (i + 1) for i in range(len(vocab))))
    levels = ["INFO", "DEBUG", "WARN", "ERROR", "INFO", "INFO"]
    comps = vocab[:60]
    out, n, t = [], 0, 1_700_000_000
    while n < size:
        t += rng.randint(0, 3)
        words = " ".join(rng.choices(vocab, cum_weights=cum, k=rng.randint(4, 16)))
        if rng.random() < 0.2:
            line = '{"ts":%d,"node":"node-%02d","%s":%d,"msg":"%s"}\n' % (
                t, rng.randint(1, 40), rng.choice(comps), rng.randint(0, 10**6), words)
        else:
            line = "%d host%02d %s %s[%d]: %s id=%08x\n" % (
                t, rng.randint(1, 40), rng.choice(levels), rng.choice(comps),
                rng.randint(100, 99999), words, rng.getrandbits(32))
        out.append(line)
        n += len(line)
    return "".join(out).encode()[:size]


class Gen:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.pool = make_pool(random.Random(seed * 7919 + 1))

    def text(self, n):
        rng, pool, parts = self.rng, self.pool, []
        while n > 0:
            off = rng.randrange(len(pool) - 1)
            take = min(n, len(pool) - off)
            parts.append(pool[off:off + take])
            n -= take
        perm = bytearray(LETTERS)
        rng.shuffle(perm)
        return b"".join(parts).translate(bytes.maketrans(LETTERS, bytes(perm)))

    def random(self, n):
        out, rng = [], self.rng
        while n > 0:  # randbytes() overflows for very large n; cut in 4 MiB pieces
            take = min(n, 4 * MIB)
            out.append(rng.randbytes(take))
            n -= take
        return b"".join(out)


def gen(root, size_mib, seed):
    g = Gen(seed)
    rng = g.rng
    total = size_mib * MIB
    small_budget, dup_budget = int(total * 0.58), int(total * 0.04)
    large_budget = total - small_budget - dup_budget
    os.makedirs(root, exist_ok=True)

    # small files, ~50 per leaf directory, 3 levels deep
    small, written, i = [], 0, 0
    while written < small_budget:
        size = rng.randint(1 * KIB, 64 * KIB)
        leaf = i // 50
        d = os.path.join("tree", "t%02d" % (leaf % 16), "s%02d" % (leaf // 16 % 25), "l%03d" % (leaf // 400))
        if rng.random() < 0.5:
            name, data = "f%06d.%s" % (i, rng.choice(["log", "txt", "json", "conf", "csv"])), g.text(size)
        else:
            name, data = "f%06d.%s" % (i, rng.choice(["bin", "jpg", "gz", "dat"])), g.random(size)
        rel = os.path.join(d, name)
        os.makedirs(os.path.join(root, d), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)
        small.append((rel, size))
        written += size
        i += 1

    # dup/: identical copies of random small files (an operator's "old copy" folder)
    dup_written, dup_n = 0, 0
    for rel, size in rng.sample(small, len(small)):
        if dup_written >= dup_budget:
            break
        dst = os.path.join(root, "dup", rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(os.path.join(root, rel), "rb") as src, open(dst, "wb") as out:
            out.write(src.read())
        dup_written += size
        dup_n += 1

    # large files: several ~190 MiB files (fewer/smaller for small totals)
    n_large = max(1, round(large_budget / (190 * MIB)))
    w = [rng.uniform(0.6, 1.4) for _ in range(n_large)]
    sizes = [int(large_budget * x / sum(w)) for x in w]
    names = ["images/vm-disk%d.img", "db/dump%d.sql", "media/archive%d.bin", "etcd/backup%d.db"]
    recent = []  # recent blocks to repeat (bounded memory)
    for k, fsize in enumerate(sizes):
        rel = names[k % len(names)] % k
        os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as f:
            left = fsize
            while left > 0:
                n = min(left, rng.randint(64 * KIB, 2 * MIB))
                r = rng.random()
                if r < 0.10 and recent:
                    block = rng.choice(recent)[:n]
                elif r < 0.55:
                    block = g.text(n)
                else:
                    block = g.random(n)
                f.write(block)
                left -= len(block)
                if len(recent) < 24:
                    recent.append(block)
                elif rng.random() < 0.1:
                    recent[rng.randrange(24)] = block
    nfiles = len(small) + dup_n + n_large
    print("dataset: %d files (%d small 1-64 KiB, %d duplicates in dup/, %d large: %s MiB), %.0f MiB"
          % (nfiles, len(small), dup_n, n_large, "/".join(str(s // MIB) for s in sizes),
             (written + dup_written + sum(sizes)) / MIB))


def modify(root, percent, seed):
    files = []
    for d, dirs, names in os.walk(root):
        dirs.sort()
        for n in sorted(names):
            files.append(os.path.relpath(os.path.join(d, n), root))
    files.sort()
    rng = random.Random(seed * 104729 + 3)
    k = max(1, round(len(files) * percent / 100.0))
    for rel in sorted(rng.sample(files, k)):
        p = os.path.join(root, rel)
        size = os.path.getsize(p)
        n = min(size, 4 * KIB)
        off = rng.randrange(size - n + 1)
        with open(p, "r+b") as f:
            f.seek(off)
            f.write(rng.randbytes(n))
    print("modified %d of %d files in place (4 KiB each at a seeded offset)" % (k, len(files)))


def main(argv):
    if len(argv) != 5 or argv[1] not in ("gen", "modify"):
        sys.exit(__doc__)
    if argv[1] == "gen":
        gen(argv[2], int(argv[3]), int(argv[4]))
    else:
        modify(argv[2], float(argv[3]), int(argv[4]))


if __name__ == "__main__":
    main(sys.argv)
