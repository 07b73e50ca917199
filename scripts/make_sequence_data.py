#!/usr/bin/env python3
"""Writes the sequence examples' data sets (examples/data/*.npy.gz), deterministically.

Plain Python (no numpy): the same bytes on every machine, gzip without a timestamp,
so `git diff` after a rerun is empty. The files are small and committed; rerun this
after changing a generator.

  binary addition: pairs a + b of 8-bit numbers as sequences of 8 steps, least
    significant bit first, 2 inputs per step (the bits of a and b); the target is
    the 8 bits of (a + b) mod 256. 6,000 training pairs and 1,000 held-out pairs,
    no pair in both.
  noisy sine: windows of 24 steps of a sine wave (random period 12-32 steps,
    amplitude 0.5-1, phase) plus Gaussian noise of standard deviation 0.1 (variance
    0.01); the target is the next value. Training targets are noisy like the inputs;
    test targets are the clean signal (values rounded to multiples of 1/1024), so a test MSE below 0.01 means the model
    forecasts the signal better than the noise would let a copy of the data.

  addition as text (seq2seq): "57+648" -> "705", operands of 1-3 digits (each digit
    count equally likely). Characters are ids: 0 pad, 1 start, 2 stop, 3-12 the digits
    0-9, 13 '+'. A row of x is the question's ids right-padded to 7, then the decoder's
    input ids (start, then the answer's ids: teacher forcing), padded to 5; y holds the
    5 decoder targets (the answer's ids, then stop) one-hot over the 14 ids, all-zero
    rows after stop (no loss). 20,000 training problems, 1,000 held-out ones, no
    problem in both.

  python3 scripts/make_sequence_data.py [OUT_DIR]   # default examples/data
"""
import gzip
import math
import os
import random
import struct
import sys


def npy_bytes(descr, shape, values):
    """The .npy (version 1.0) encoding of a C-order array."""
    fmt = {"<f4": "f", "<u1": "B"}[descr]
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else ""))
    # The header (with its trailing newline) pads the 10-byte preamble to a multiple of 64.
    padding = 64 - (10 + len(header) + 1) % 64
    header = header + " " * (padding % 64) + "\n"
    count = 1
    for d in shape:
        count *= d
    assert len(values) == count, (shape, len(values))
    return (b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") +
            struct.pack("<%d%s" % (count, fmt), *values))


def write(out_dir, name, descr, shape, values):
    path = os.path.join(out_dir, name + ".npy.gz")
    with open(path, "wb") as f:
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as gz:
            gz.write(npy_bytes(descr, shape, values))
    print("wrote %s %s" % (path, list(shape)))


def binary_addition(out_dir):
    rng = random.Random(2026)
    pairs = rng.sample(range(256 * 256), 7000)  # distinct pairs: train and test never share one
    sets = {"train": pairs[:6000], "test": pairs[6000:]}
    for split, chosen in sets.items():
        x, y = [], []
        for p in chosen:
            a, b = divmod(p, 256)
            s = (a + b) % 256
            for bit in range(8):  # least significant first: the carry flows forward in time
                x += [(a >> bit) & 1, (b >> bit) & 1]
                y.append(float((s >> bit) & 1))
        write(out_dir, "binary_addition_%s_x" % split, "<u1", (len(chosen), 8, 2), x)
        write(out_dir, "binary_addition_%s_y" % split, "<f4", (len(chosen), 8), y)


def noisy_sine(out_dir):
    rng = random.Random(14)
    steps, noise = 24, 0.1
    for split, n in (("train", 3000), ("test", 500)):
        x, y = [], []
        for _ in range(n):
            period = rng.uniform(12.0, 32.0)
            amplitude = rng.uniform(0.5, 1.0)
            phase = rng.uniform(0.0, 2.0 * math.pi)
            clean = [amplitude * math.sin(2.0 * math.pi * t / period + phase) for t in range(steps + 1)]
            # Multiples of 1/1024 (exact in float32; the zero low mantissa bits compress well).
            noisy = [round((v + rng.gauss(0.0, noise)) * 1024) / 1024 for v in clean]
            x += noisy[:steps]
            y.append(noisy[steps] if split == "train" else clean[steps])
        write(out_dir, "sine_%s_x" % split, "<f4", (n, steps, 1), x)
        write(out_dir, "sine_%s_y" % split, "<f4", (n, 1), y)


ADDITION_VOCABULARY = 14  # pad, start, stop, 0-9, +
ADDITION_QUESTION, ADDITION_ANSWER = 7, 5  # "999+999"; "1998" and stop


def addition_ids(text):
    return [13 if c == "+" else 3 + int(c) for c in text]


def seq2seq_addition(out_dir):
    rng = random.Random(1414)

    def operand():
        digits = rng.randint(1, 3)
        return rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10 ** digits - 1)

    problems = []
    seen = set()
    while len(problems) < 21000:
        p = (operand(), operand())
        if p not in seen:
            seen.add(p)
            problems.append(p)
    for split, chosen in (("train", problems[:20000]), ("test", problems[20000:])):
        x, y = [], []
        for a, b in chosen:
            question = addition_ids("%d+%d" % (a, b))
            targets = addition_ids(str(a + b)) + [2]
            decoder_in = [1] + targets[:-1]
            x += question + [0] * (ADDITION_QUESTION - len(question))
            x += decoder_in + [0] * (ADDITION_ANSWER - len(decoder_in))
            for step in range(ADDITION_ANSWER):
                row = [0.0] * ADDITION_VOCABULARY
                if step < len(targets):
                    row[targets[step]] = 1.0
                y += row
        write(out_dir, "seq2seq_addition_%s_x" % split, "<u1", (len(chosen), ADDITION_QUESTION + ADDITION_ANSWER), x)
        write(out_dir, "seq2seq_addition_%s_y" % split, "<f4", (len(chosen), ADDITION_ANSWER * ADDITION_VOCABULARY), y)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "examples", "data")
    os.makedirs(out_dir, exist_ok=True)
    binary_addition(out_dir)
    noisy_sine(out_dir)
    seq2seq_addition(out_dir)


if __name__ == "__main__":
    main()
