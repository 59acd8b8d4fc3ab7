#!/usr/bin/python3
"""Writes the small fixtures of tests/test_data.c (run from the repo root
with Debian's /usr/bin/python3; needs python3-numpy only).

- tiny-images-idx3-ubyte.gz, tiny-labels-idx1-ubyte: 5 images of 3 x 4
  pixels, pixel (i, r, c) = (i * 50 + r * 4 + c * 3) % 256, labels 0 4 1 4 2
  (images gzip-compressed, labels raw, to cover both).
- iris-mini.csv: 9 rows of 4 features and a string species label, with a
  quoted header field and CRLF line ends.
- images/{circle,square}/*.{png,pgm,bmp}: images of 4 x 3 (w x h) whose
  pixel (channel k, row y, column x) = (x * 40 + y * 70 + k * 90) % 256,
  encoded here by hand (PNG with zlib, binary PGM, 24-bit BMP), so the
  decoder is checked against an independent encoder.
- ../../fuzz/corpus/{idx,csv,image}/: seed inputs of the fuzz targets, in
  their framing (option bytes, then the file bytes); the JPEG seed
  seed-jpeg was written once with libstb's stbi_write_jpg (no JPEG encoder
  here) and is kept as it is.
- fashion-mnist-ref.txt: facts about the Debian Fashion-MNIST files read
  with numpy: the label and pixel sum of the first training image, the
  first ten training labels, and the pixel sum of the whole test set.
"""
import gzip
import os
import struct
import zlib

import numpy as np

OUT = os.path.dirname(os.path.abspath(__file__))


def idx_bytes(arr):
    head = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim)
    head += b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def tiny_idx():
    i, r, c = np.meshgrid(np.arange(5), np.arange(3), np.arange(4), indexing="ij")
    imgs = (i * 50 + r * 4 + c * 3) % 256
    labels = np.array([0, 4, 1, 4, 2])
    with open(os.path.join(OUT, "tiny-images-idx3-ubyte.gz"), "wb") as f:
        f.write(gzip.compress(idx_bytes(imgs), mtime=0))
    with open(os.path.join(OUT, "tiny-labels-idx1-ubyte"), "wb") as f:
        f.write(idx_bytes(labels))


def iris_mini():
    rows = [
        (5.1, 3.5, 1.4, 0.2, "setosa"), (4.9, 3.0, 1.4, 0.2, "setosa"),
        (4.7, 3.2, 1.3, 0.2, "setosa"), (7.0, 3.2, 4.7, 1.4, "versicolor"),
        (6.4, 3.2, 4.5, 1.5, "versicolor"), (6.9, 3.1, 4.9, 1.5, "versicolor"),
        (6.3, 3.3, 6.0, 2.5, "virginica"), (5.8, 2.7, 5.1, 1.9, "virginica"),
        (7.1, 3.0, 5.9, 2.1, "virginica"),
    ]
    # Shuffled so that sorting the class names is not a no-op.
    order = [6, 0, 3, 1, 7, 4, 2, 8, 5]
    lines = ['sepal_length,sepal_width,"petal length",petal_width,species']
    for k in order:
        r = rows[k]
        lines.append("%g,%g,%g,%g,%s" % r)
    with open(os.path.join(OUT, "iris-mini.csv"), "wb") as f:
        f.write(("\r\n".join(lines) + "\r\n").encode())


def pixels(w, h, c):
    y, x, k = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    return ((x * 40 + y * 70 + k * 90) % 256).astype(np.uint8)  # (h, w, c)


def png(path, px):
    h, w, c = px.shape
    color = {1: 0, 3: 2, 4: 6}[c]
    raw = b"".join(b"\x00" + px[y].tobytes() for y in range(h))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    data = b"\x89PNG\r\n\x1a\n"
    data += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw, 9))
    data += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def pgm(path, px):
    h, w, _ = px.shape
    with open(path, "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % (w, h) + px[:, :, 0].tobytes())


def bmp(path, px):
    h, w, _ = px.shape
    stride = (w * 3 + 3) & ~3
    rows = b""
    for y in range(h - 1, -1, -1):  # bottom-up, BGR
        line = px[y, :, ::-1].tobytes()
        rows += line + b"\x00" * (stride - len(line))
    head = struct.pack("<2sIHHI", b"BM", 54 + len(rows), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(rows), 2835, 2835, 0, 0)
    with open(path, "wb") as f:
        f.write(head + info + rows)


def images():
    for d in ("circle", "square"):
        os.makedirs(os.path.join(OUT, "images", d), exist_ok=True)
    png(os.path.join(OUT, "images", "circle", "a.png"), pixels(4, 3, 3))
    bmp(os.path.join(OUT, "images", "circle", "b.bmp"), pixels(4, 3, 3))
    png(os.path.join(OUT, "images", "square", "a.png"), pixels(4, 3, 1))
    pgm(os.path.join(OUT, "images", "square", "b.pgm"), pixels(4, 3, 1))
    png(os.path.join(OUT, "images", "square", "c.png"), pixels(4, 3, 4))


def fashion_ref():
    root = "/usr/share/datasets/fashion-mnist"

    def load(name, off):
        with gzip.open(os.path.join(root, name)) as f:
            return np.frombuffer(f.read(), np.uint8, offset=off)

    tri = load("train-images-idx3-ubyte.gz", 16).reshape(-1, 784)
    trl = load("train-labels-idx1-ubyte.gz", 8)
    tei = load("t10k-images-idx3-ubyte.gz", 16)
    with open(os.path.join(OUT, "fashion-mnist-ref.txt"), "w") as f:
        f.write("train0_label %d\n" % trl[0])
        f.write("train0_sum %d\n" % int(tri[0].astype(np.int64).sum()))
        f.write("train_labels10 %s\n" % " ".join(str(v) for v in trl[:10]))
        f.write("test_sum %d\n" % int(tei.astype(np.int64).sum()))


def fuzz_seeds():
    corpus = os.path.join(OUT, "..", "..", "fuzz", "corpus")

    def put(kind, name, data):
        os.makedirs(os.path.join(corpus, kind), exist_ok=True)
        with open(os.path.join(corpus, kind, name), "wb") as f:
            f.write(data)

    def read(name):
        with open(os.path.join(OUT, name), "rb") as f:
            return f.read()

    imgs_gz = read("tiny-images-idx3-ubyte.gz")
    imgs = gzip.decompress(imgs_gz)
    lbls = read("tiny-labels-idx1-ubyte")
    put("idx", "seed-raw", struct.pack("<H", len(imgs)) + imgs + lbls)
    put("idx", "seed-gz", struct.pack("<H", len(imgs_gz)) + imgs_gz + gzip.compress(lbls, mtime=0))
    put("idx", "seed-nolabels", b"\xff\xff" + imgs)
    flat = idx_bytes(np.arange(12).reshape(4, 3))
    put("idx", "seed-2d", struct.pack("<H", len(flat)) + flat + idx_bytes(np.array([1, 0, 2, 1])))

    put("csv", "seed-iris", bytes([3]) + read("iris-mini.csv"))  # label "label": missing
    put("csv", "seed-iris-last", bytes([2]) + read("iris-mini.csv"))  # label "-1"
    put("csv", "seed-regress", bytes([4 | 0x20]) + b"a,y,b\n1,2.5,3\n4,5e-1,6\n7,8,9\n")
    put("csv", "seed-noheader", bytes([1 | 8]) + b"1,0,2\n3,1,4\n")
    put("csv", "seed-quoted", bytes([0x40]) + b'"a";"b c"\r\n"1";2\r\n\r\n3;"4"\r\n')

    for kind, name in (("png", "images/circle/a.png"), ("bmp", "images/circle/b.bmp"),
                       ("pgm", "images/square/b.pgm"), ("png-grey", "images/square/a.png"),
                       ("png-rgba", "images/square/c.png")):
        put("image", "seed-" + kind, bytes([0, 0, 0]) + read(name))
        put("image", "seed-" + kind + "-resize", bytes([8 | 3, 7, 5]) + read(name))
    gif = bytes.fromhex("47494638396101000100800000ffffff00000021f90401000000002c"
                        "00000000010001000002024401003b")
    put("image", "seed-gif", bytes([0, 0, 0]) + gif)


if __name__ == "__main__":
    tiny_idx()
    iris_mini()
    images()
    fuzz_seeds()
    fashion_ref()
