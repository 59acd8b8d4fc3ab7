#!/usr/bin/python3
"""check_safetensors.py - an independent reader of safetensors files, used by
the C test suite to check that files libnn writes are readable without
libnn: the header is parsed with json and the data read with
numpy.frombuffer, from the header alone (no safetensors package).

usage: check_safetensors.py FILE [--tensor NAME DTYPE SHAPE VALUES]...
                                 [--meta KEY VALUE]...

SHAPE is dims joined by 'x' ("2x3"), or "-" for a scalar; VALUES are the
expected elements, comma-separated, row-major (empty for no elements).
The file must hold exactly the tensors and metadata given (no --meta: no
metadata, or an empty object). Prints each tensor; exits 0 if everything
matches, 1 on a mismatch or a malformed file, 2 on bad usage or a missing
numpy.
"""
import json
import struct
import sys

try:
    import numpy as np
except ImportError:
    print("check_safetensors: numpy is missing (apt-get install python3-numpy)",
          file=sys.stderr)
    sys.exit(2)

DTYPES = {"F32": "<f4", "I32": "<i4", "I64": "<i8", "U8": "u1"}


class Bad(Exception):
    pass


def no_duplicates(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise Bad("duplicate key %r" % k)
        d[k] = v
    return d


def parse_args(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    path, want_t, want_m, i = argv[1], {}, {}, 2
    while i < len(argv):
        if argv[i] == "--tensor" and i + 4 < len(argv):
            name, dt, shape, vals = argv[i + 1:i + 5]
            dims = [] if shape == "-" else [int(x) for x in shape.split("x")]
            nums = [float(x) for x in vals.split(",")] if vals else []
            want_t[name] = (dt, dims, nums)
            i += 5
        elif argv[i] == "--meta" and i + 2 < len(argv):
            want_m[argv[i + 1]] = argv[i + 2]
            i += 3
        else:
            print("check_safetensors: bad argument %r" % argv[i], file=sys.stderr)
            sys.exit(2)
    return path, want_t, want_m


def read(path):
    raw = open(path, "rb").read()
    if len(raw) < 8:
        raise Bad("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise Bad("header length %d past the end of the file" % n)
    if n % 8 != 0:
        raise Bad("header length %d not padded to a multiple of 8" % n)
    text = raw[8:8 + n].decode("utf-8")
    header, end = json.JSONDecoder(object_pairs_hook=no_duplicates).raw_decode(text)
    if not isinstance(header, dict) or text[end:].strip(" "):
        raise Bad("header is not one JSON object padded with spaces")
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise Bad("__metadata__ is not an object of strings")
    ranges, tensors = [], {}
    for name, info in header.items():
        if set(info) != {"dtype", "shape", "data_offsets"}:
            raise Bad("tensor %r: keys %s" % (name, sorted(info)))
        dt, shape, (b, e) = info["dtype"], info["shape"], info["data_offsets"]
        if dt not in DTYPES:
            raise Bad("tensor %r: dtype %r" % (name, dt))
        if not all(type(x) is int and x >= 0 for x in shape + [b, e]):
            raise Bad("tensor %r: non-integer or negative shape/offsets" % name)
        npdt = np.dtype(DTYPES[dt])
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if e - b != count * npdt.itemsize or e > len(data):
            raise Bad("tensor %r: offsets [%d, %d] do not fit shape %s" % (name, b, e, shape))
        if b % npdt.itemsize != 0:
            raise Bad("tensor %r: offset %d not aligned to %d" % (name, b, npdt.itemsize))
        arr = np.frombuffer(data, dtype=npdt, count=count, offset=b).reshape(shape)
        tensors[name] = (dt, list(shape), arr)
        ranges.append((b, e, name))
    pos = 0
    for b, e, name in sorted(ranges):
        if b != pos:
            raise Bad("tensor %r begins at %d, expected %d (gap or overlap)" % (name, b, pos))
        pos = e
    if pos != len(data):
        raise Bad("data section has %d bytes, tensors cover %d" % (len(data), pos))
    return tensors, meta


def main(argv):
    path, want_t, want_m = parse_args(argv)
    try:
        tensors, meta = read(path)
    except (Bad, ValueError, TypeError, OSError) as e:
        print("check_safetensors: %s: %s" % (path, e), file=sys.stderr)
        return 1
    ok = True
    for name, (dt, shape, arr) in tensors.items():
        print("%s %s %s %s" % (name, dt, shape, arr.ravel().tolist()))
    if set(tensors) != set(want_t):
        print("check_safetensors: tensors %s, expected %s" % (sorted(tensors), sorted(want_t)),
              file=sys.stderr)
        ok = False
    for name, (dt, dims, nums) in want_t.items():
        if name not in tensors:
            continue
        got_dt, got_shape, arr = tensors[name]
        want = np.array(nums, dtype=np.dtype(DTYPES.get(dt, "<f8")))
        if got_dt != dt or got_shape != dims or not np.array_equal(arr.ravel(), want):
            print("check_safetensors: tensor %r is %s %s %s, expected %s %s %s"
                  % (name, got_dt, got_shape, arr.ravel().tolist(), dt, dims, nums),
                  file=sys.stderr)
            ok = False
    if meta != want_m:
        print("check_safetensors: metadata %r, expected %r" % (meta, want_m), file=sys.stderr)
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
