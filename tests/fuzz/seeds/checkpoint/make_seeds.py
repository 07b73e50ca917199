#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_checkpoint: checkpoints of the fuzz target's fixed
training step (dense/kernel float32[2,3], dense/bias float32[3], step int64[]) in the
format of runtime/training/checkpoint.h, valid and slightly broken. Run it from here."""
import struct
import zlib


def varint(n):
    n &= (1 << 64) - 1
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, wire, payload):
    key = varint((num << 3) | wire)
    if wire == 0:
        return key + varint(payload)
    if wire == 1:
        return key + payload
    return key + varint(len(payload)) + payload


def tensor(name, dtype, dims, raw):
    packed = b"".join(varint(d) for d in dims)
    return field(1, 2, name.encode()) + field(2, 0, dtype) + (field(3, 2, packed) if dims else b"") + field(4, 2, raw)


def states(fill):
    return [tensor("dense/kernel", 1, [2, 3], struct.pack("<6f", *[fill] * 6)),
            tensor("dense/bias", 1, [3], struct.pack("<3f", *[fill] * 3)),
            tensor("step", 5, [], struct.pack("<q", 7))]


def checkpoint(state, epoch, best=None, best_epoch=-1, wait=0, stopped=False):
    msg = b"".join(field(1, 2, t) for t in state) + field(2, 0, epoch)
    if best is not None:
        msg += field(3, 1, struct.pack("<d", 0.25))
    msg += field(4, 0, best_epoch) + field(5, 0, wait)
    msg += b"".join(field(6, 2, t) for t in (best or []))
    if stopped:
        msg += field(7, 0, 1)
    return msg


def envelope(payload, version=1, crc=None):
    crc = zlib.crc32(payload) if crc is None else crc
    return b"KILNCKPT" + struct.pack("<IIQ", version, crc, len(payload)) + payload


seeds = {
    "valid.ckpt": envelope(checkpoint(states(0.5), 3)),
    "best_stopped.ckpt": envelope(checkpoint(states(0.5), 4, states(0.25), best_epoch=2, wait=2, stopped=True)),
    "missing_state.ckpt": envelope(checkpoint(states(0.5)[:2], 1)),
    "duplicate_state.ckpt": envelope(checkpoint(states(0.5) + states(0.5)[:1], 1)),
    "negative_epoch.ckpt": envelope(checkpoint(states(0.5), -5)),
    "wrong_shape.ckpt": envelope(checkpoint([tensor("dense/kernel", 1, [3, 2], b"\0" * 24)] + states(0.5)[1:], 1)),
    "nan.ckpt": envelope(checkpoint(states(float("nan")), 1)),
    "bad_crc.ckpt": envelope(checkpoint(states(0.5), 3), crc=1),
    "version2.ckpt": envelope(checkpoint(states(0.5), 3), version=2),
    "truncated.ckpt": envelope(checkpoint(states(0.5), 3))[:-9],
    "bare_payload.ckpt": checkpoint(states(0.5), 3),
    "empty.ckpt": b"",
}
for name, data in seeds.items():
    with open(name, "wb") as f:
        f.write(data)
