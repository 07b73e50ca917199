#!/usr/bin/python3
"""Makes the sample images of examples/images/ for `kiln predict --image`.

Each is a Fashion-MNIST test item redrawn the way a user's own picture arrives:
another size, dark on a light background, in colour, with transparency, as PGM.
Deterministic: the same files every run. Needs numpy and Debian's
dataset-fashion-mnist; PNGs are written with zlib (no imaging library needed).

  /usr/bin/python3 scripts/make_sample_images.py [OUT_DIR]
"""
import gzip
import os
import struct
import sys
import zlib

import numpy as np

DATA = "/usr/share/datasets/fashion-mnist"
NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def load_test():
    with gzip.open(os.path.join(DATA, "t10k-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read()[16:], np.uint8).reshape(-1, 28, 28)
    with gzip.open(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read()[8:], np.uint8)
    return images, labels


def upscale(img, size):
    """Bilinear resize of a 2-D float array to size x size (pixel centres aligned)."""
    h, w = img.shape
    ys = np.clip((np.arange(size) + 0.5) * h / size - 0.5, 0, h - 1)
    xs = np.clip((np.arange(size) + 0.5) * w / size - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x1] * fx
    bottom = img[y1][:, x0] * (1 - fx) + img[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def place(item, canvas, margin):
    """The item (0..1 ink) scaled into a canvas x canvas frame with a margin."""
    out = np.zeros((canvas, canvas))
    inner = canvas - 2 * margin
    out[margin:margin + inner, margin:margin + inner] = upscale(item, inner)
    return out


def write_png(path, pixels, color_type, bit_depth=8):
    """pixels: uint8/uint16 array [H, W] or [H, W, C]; color_type 0 gray, 2 RGB, 6 RGBA."""
    h, w = pixels.shape[:2]
    dtype = ">u2" if bit_depth == 16 else "u1"
    raw = b"".join(b"\x00" + pixels[y].astype(dtype).tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "examples", "images")
    os.makedirs(out_dir, exist_ok=True)
    images, labels = load_test()
    first = {c: int(np.argmax(labels == c)) for c in range(10)}
    made = []

    # Ankle boot: 200x200 RGB, dark blue ink on white paper with a margin.
    i = first[9]
    ink = place(images[i] / 255.0, 200, 16)[..., None]
    paper, pen = np.array([255, 255, 250]), np.array([20, 30, 90])
    write_png(os.path.join(out_dir, "ankle_boot.png"), np.round(paper * (1 - ink) + pen * ink).astype(np.uint8), 2)
    made.append(("ankle_boot.png", i))

    # Trouser: 120x120 binary PGM (P5), black on white.
    i = first[1]
    gray = np.round(255 * (1 - place(images[i] / 255.0, 120, 10))).astype(np.uint8)
    with open(os.path.join(out_dir, "trouser.pgm"), "wb") as f:
        f.write(b"P5\n# Fashion-MNIST test item %d (Trouser)\n120 120\n255\n" % i + gray.tobytes())
    made.append(("trouser.pgm", i))

    # Bag: 150x150 RGBA, black ink on a transparent canvas (composited over white when read).
    i = first[8]
    alpha = place(images[i] / 255.0, 150, 12)
    rgba = np.zeros((150, 150, 4), np.uint8)
    rgba[..., 3] = np.round(255 * alpha)
    write_png(os.path.join(out_dir, "bag_transparent.png"), rgba, 6)
    made.append(("bag_transparent.png", i))

    # Sneaker: 84x84 16-bit gray, light on black like the training data (no inversion needed).
    i = first[7]
    write_png(os.path.join(out_dir, "sneaker_16bit.png"),
              np.round(65535 * place(images[i] / 255.0, 84, 0)).astype(np.uint16), 0, 16)
    made.append(("sneaker_16bit.png", i))

    for name, i in made:
        print("%s: Fashion-MNIST test item %d (%s)" % (name, i, NAMES[labels[i]]))


if __name__ == "__main__":
    main()
