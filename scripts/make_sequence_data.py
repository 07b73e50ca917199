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
import ast
import datetime
import gzip
import math
import os
import random
import re
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


def model_vocabulary(example):
    """The token texts of an example's greedy_decoding block (`tokens: [...]`) and its pad,
    start and stop ids: the model file is the one place the vocabulary is written."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", example + ".kiln.txt")
    with open(path) as f:
        text = f.read()
    block = re.search(r"greedy_decoding\s*\{(.*?)\n\s*\}", text, re.S).group(1)
    tokens = ast.literal_eval(re.search(r"tokens:\s*(\[.*?\])", block, re.S).group(1))
    special = {k: int(re.search(k + r":\s*(\d+)", block).group(1)) if re.search(k + r":", block) else 0
               for k in ("pad_token", "start_token", "stop_token")}
    return tokens, special["pad_token"], special["start_token"], special["stop_token"]


def write_seq2seq(out_dir, example, pairs_by_split, question_length, answer_length):
    """Rows of x: the question's ids right-padded to question_length, then the decoder's
    input ids (start, then the answer's: teacher forcing) padded to answer_length; y: the
    answer_length targets (the answer's ids, then stop) one-hot, all-zero after stop."""
    tokens, pad, start, stop = model_vocabulary(example)
    ids = {t: i for i, t in enumerate(tokens) if i not in (pad, start, stop)}
    for split, pairs in pairs_by_split:
        x, y = [], []
        for question, answer in pairs:
            assert len(question) <= question_length and len(answer) < answer_length, (question, answer)
            targets = [ids[c] for c in answer] + [stop]
            decoder_in = [start] + targets[:-1]
            x += [ids[c] for c in question] + [pad] * (question_length - len(question))
            x += decoder_in + [pad] * (answer_length - len(decoder_in))
            for step in range(answer_length):
                row = [0.0] * len(tokens)
                if step < len(targets):
                    row[targets[step]] = 1.0
                y += row
        write(out_dir, "%s_%s_x" % (example, split), "<u1", (len(pairs), question_length + answer_length), x)
        write(out_dir, "%s_%s_y" % (example, split), "<f4", (len(pairs), answer_length * len(tokens)), y)


def seq2seq_addition(out_dir):
    rng = random.Random(1414)

    def operand():
        digits = rng.randint(1, 3)
        return rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10 ** digits - 1)

    problems = []
    seen = set()
    while len(problems) < 51000:
        p = (operand(), operand())
        if p not in seen:
            seen.add(p)
            problems.append(p)
    pairs = [("%d+%d" % (a, b), str(a + b)) for a, b in problems]
    write_seq2seq(out_dir, "seq2seq_addition", (("train", pairs[:50000]), ("test", pairs[50000:])), 7, 5)


MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def ordinal(n):
    return "%d%s" % (n, "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th"))


# Human ways of writing a date d (a datetime.date). Slashes are month first (US), dots day
# first (European); two-digit years are 1950-2049.
DATE_FORMATS = [
    lambda d: "%d %s %d" % (d.day, MONTHS[d.month - 1], d.year),                 # 3 March 1987
    lambda d: "%s %d, %d" % (MONTHS[d.month - 1], d.day, d.year),                # March 3, 1987
    lambda d: "%02d/%02d/%02d" % (d.month, d.day, d.year % 100),                 # 03/03/87
    lambda d: "%s %d %s %d" % (WEEKDAYS[d.weekday()][:3], d.day, MONTHS[d.month - 1][:3], d.year),  # Tue 3 Mar 1987
    lambda d: "%d-%d-%d" % (d.year, d.month, d.day),                             # 1987-3-3
    lambda d: "%d %s %d" % (d.day, MONTHS[d.month - 1][:3], d.year),             # 3 Mar 1987
    lambda d: "%s %d %d" % (MONTHS[d.month - 1][:3], d.day, d.year),             # Mar 3 1987
    lambda d: "%s %s, %d" % (MONTHS[d.month - 1], ordinal(d.day), d.year),       # March 3rd, 1987
    lambda d: "%d/%d/%d" % (d.month, d.day, d.year),                             # 3/3/1987
    lambda d: "%s, %s %d, %d" % (WEEKDAYS[d.weekday()], MONTHS[d.month - 1], d.day, d.year),  # Tuesday, March 3, 1987
    lambda d: "%02d.%02d.%d" % (d.day, d.month, d.year),                         # 03.03.1987
    lambda d: "%d%02d%02d" % (d.year, d.month, d.day),                           # 19870303
    lambda d: "%d-%s-%d" % (d.day, MONTHS[d.month - 1][:3], d.year),             # 3-Mar-1987
    lambda d: "%d-%02d-%02d" % (d.year, d.month, d.day),                         # 1987-03-03
    lambda d: ("%d %s %d" % (d.day, MONTHS[d.month - 1], d.year)).upper(),       # 3 MARCH 1987
    lambda d: "the %s of %s %d" % (ordinal(d.day), MONTHS[d.month - 1], d.year),  # the 3rd of March 1987
]
DATE_QUESTION, DATE_ANSWER = 29, 11  # "Wednesday, September 30, 1987"; "1987-09-30" and stop


def seq2seq_dates(out_dir):
    """Dates 1950-2049 in the formats above -> ISO 8601. The held-out dates are days that
    no training example shows, in any format."""
    rng = random.Random(8601)
    first = datetime.date(1950, 1, 1)
    days = list(range((datetime.date(2049, 12, 31) - first).days + 1))
    rng.shuffle(days)
    splits = (("train", days[:30000]), ("test", days[30000:31000]))
    pairs_by_split = []
    for split, chosen in splits:
        pairs = []
        for day in chosen:
            d = first + datetime.timedelta(days=day)
            pairs.append((rng.choice(DATE_FORMATS)(d), d.isoformat()))
        pairs_by_split.append((split, pairs))
    write_seq2seq(out_dir, "seq2seq_dates", pairs_by_split, DATE_QUESTION, DATE_ANSWER)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "examples", "data")
    os.makedirs(out_dir, exist_ok=True)
    binary_addition(out_dir)
    noisy_sine(out_dir)
    seq2seq_addition(out_dir)
    seq2seq_dates(out_dir)


if __name__ == "__main__":
    main()
