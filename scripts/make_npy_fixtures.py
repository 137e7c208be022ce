#!/usr/bin/env python3
"""Writes the .npy/.npz fixtures for Tests/NPYTests with numpy itself.

Run from the repository root:  python3 scripts/make_npy_fixtures.py
Produces Tests/NPYTests/Fixtures/{good,bad}/... and expected.json (values as numpy reads
them, in C order, as float64 hex strings so nothing is lost in JSON), so the Swift tests compare against numpy, not against
themselves. Truncated variants are made by the test (every good file minus one byte).
"""
import io, json, os, zipfile
import numpy as np

root = os.path.join(os.path.dirname(__file__), "..", "Tests", "NPYTests", "Fixtures")
good = os.path.join(root, "good"); bad = os.path.join(root, "bad")
for d in (good, bad):
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))

rng = np.random.default_rng(20201)
dtypes = ["f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"]
shapes = [(), (0,), (5,), (0, 3), (2, 3, 4)]
expected = {}

def values(dt, shape):
    n = int(np.prod(shape))
    if dt == "b1":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dt[0] == "f":
        v = rng.standard_normal(n) * 100
        if n >= 5:
            v[0], v[1] = np.inf, -0.0
        return v.reshape(shape).astype(dt)
    info = np.iinfo(np.dtype(dt))
    v = rng.integers(info.min, info.max, size=n, endpoint=True, dtype=np.dtype(dt).newbyteorder("="))
    if n >= 2:
        v[0], v[1] = info.min, info.max
    return v.reshape(shape)

for dt in dtypes:
    for order in ("<", ">"):
        if dt in ("i1", "u1", "b1") and order == ">":
            continue
        for fortran in (False, True):
            for shape in shapes:
                a = values(dt, shape)
                a = a.astype(np.dtype(dt).newbyteorder(order)) if dt not in ("i1", "u1", "b1") else a
                if fortran:
                    a = np.asfortranarray(a)
                name = f"{dt}_{'le' if order == '<' else 'be'}_{'F' if fortran else 'C'}_{'x'.join(map(str, shape)) or 'scalar'}.npy"
                np.save(os.path.join(good, name), a)
                expected[name] = {"shape": list(a.shape), "dtype": dt,
                                  "values": [None if not np.isfinite(x) else float(x).hex() for x in np.asarray(a, dtype=np.float64).ravel(order="C")],
                                  "nonfinite": [repr(float(x)) for x in np.asarray(a, dtype=np.float64).ravel(order="C") if not np.isfinite(x)]}

# Versions 2.0 and 3.0 (3.0 allows a UTF-8 header).
a = rng.standard_normal((3, 4)).astype("<f4")
for ver in ((2, 0), (3, 0)):
    name = f"version_{ver[0]}_0.npy"
    with open(os.path.join(good, name), "wb") as f:
        np.lib.format.write_array(f, a, version=ver)
    expected[name] = {"shape": [3, 4], "dtype": "f4", "values": [float(x).hex() for x in a.ravel()], "nonfinite": []}

# A header written by hand in another key order, double quotes, no trailing comma.
hdr = b"{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"<i4\"}"
hdr = hdr + b" " * (64 - 10 - len(hdr) - 1 - (64 - 10 - len(hdr) - 1) // 64 * 64) + b"\n"
raw = b"\x93NUMPY\x01\x00" + len(hdr).to_bytes(2, "little") + hdr + np.array([7, -9], "<i4").tobytes()
open(os.path.join(good, "hand_key_order.npy"), "wb").write(raw)
expected["hand_key_order.npy"] = {"shape": [2], "dtype": "i4", "values": [(7.0).hex(), (-9.0).hex()], "nonfinite": []}

# .npz, stored and deflated, several members.
x = rng.standard_normal((4, 5)).astype("f4"); y = np.arange(6, dtype="i8").reshape(2, 3)
np.savez(os.path.join(good, "stored.npz"), x=x, y=y)
np.savez_compressed(os.path.join(good, "deflated.npz"), x=x, y=y)
expected["stored.npz"] = expected["deflated.npz"] = {
    "members": {"x": {"shape": [4, 5], "values": [float(v).hex() for v in x.ravel()]},
                "y": {"shape": [2, 3], "values": [float(v).hex() for v in y.ravel()]}}}

# Bad files: numpy's own malformed-magic cases (numpy/lib/tests/test_format.py), bad
# versions, and hostile headers. The test expects a specific error kind for each.
def npy_bytes(header: bytes, version=(1, 0), data=b"", pad=True):
    if pad:
        total = 10 + len(header) + 1
        header = header + b" " * ((64 - total % 64) % 64) + b"\n"
    ln = len(header).to_bytes(2 if version[0] == 1 else 4, "little")
    return b"\x93NUMPY" + bytes(version) + ln + header + data

good_header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
payload = np.array([1, 2], "<f4").tobytes()
bad_cases = {
    # numpy test_format.py malformed_magic
    "magic_92NUMPY": (b"\x92NUMPY\x01\x00" + npy_bytes(good_header, data=payload)[8:], "badMagic"),
    "magic_93NUMPy": (b"\x93NUMPy\x01\x00" + npy_bytes(good_header, data=payload)[8:], "badMagic"),
    "magic_93numpy": (b"\x93numpy\x01\x00" + npy_bytes(good_header, data=payload)[8:], "badMagic"),
    "magic_empty": (b"", "truncatedHeader"),
    "magic_short": (b"\x93NUM", "truncatedHeader"),
    "magic_short_wrong": (b"\x93NUX", "badMagic"),
    "version_0_0": (npy_bytes(good_header, version=(0, 0), data=payload), "unsupportedVersion"),
    "version_1_1": (npy_bytes(good_header, version=(1, 1), data=payload), "unsupportedVersion"),
    "version_4_0": (npy_bytes(good_header, version=(4, 0), data=payload), "unsupportedVersion"),
    "version_255_255": (npy_bytes(good_header, version=(255, 255), data=payload), "unsupportedVersion"),
    "object_dtype": (npy_bytes(b"{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", data=b"\0" * 16), "unsupportedDType"),
    "string_dtype": (npy_bytes(b"{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }", data=b"\0" * 24), "unsupportedDType"),
    "structured_dtype": (npy_bytes(b"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", data=payload), "illegalValue"),
    "missing_shape": (npy_bytes(b"{'descr': '<f4', 'fortran_order': False, }", data=payload), "missingKey"),
    "missing_descr": (npy_bytes(b"{'fortran_order': False, 'shape': (2,), }", data=payload), "missingKey"),
    "unknown_key": (npy_bytes(b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1, }", data=payload), "unknownKey"),
    "duplicate_key": (npy_bytes(b"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data=payload), "duplicateKey"),
    "negative_dim": (npy_bytes(b"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", data=payload), "illegalValue"),
    "float_dim": (npy_bytes(b"{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,), }", data=payload), "illegalValue"),
    "fortran_not_bool": (npy_bytes(b"{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", data=payload), "illegalValue"),
    "not_a_dict": (npy_bytes(b"['descr', '<f4']", data=payload), "malformedHeader"),
    "unterminated": (npy_bytes(b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,", data=payload), "malformedHeader"),
    "huge_shape_overflow": (npy_bytes(b"{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }", data=payload), "sizeOverflow"),
    "huge_shape_claim": (npy_bytes(b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }", data=payload), "truncatedData"),
    "header_len_past_eof": (b"\x93NUMPY\x01\x00\xff\xff{'descr'", "truncatedHeader"),
    "v2_header_len_huge": (b"\x93NUMPY\x02\x00\xff\xff\xff\x7f{'descr'", "headerTooLong"),
    "trailing_data": (npy_bytes(good_header, data=payload + b"\0\0\0\0"), "trailingData"),
    "bool_byte_2": (npy_bytes(b"{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", data=b"\x01\x02"), "illegalValue"),
    "non_ascii_v1": (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'é': 1}".encode(), data=payload), "malformedHeader"),
}
kinds = {}
for name, (raw, kind) in bad_cases.items():
    open(os.path.join(bad, name + ".npy"), "wb").write(raw)
    kinds[name + ".npy"] = kind

# Bad .npz: flipped data byte (CRC), not a zip, truncated directory, declared bomb.
buf = bytearray(open(os.path.join(good, "stored.npz"), "rb").read())
i = buf.index(b"\x93NUMPY") + 200
buf[i] ^= 0xFF
open(os.path.join(bad, "crc_mismatch.npz"), "wb").write(bytes(buf))
kinds["crc_mismatch.npz"] = "badZip"
open(os.path.join(bad, "not_a_zip.npz"), "wb").write(b"PK\x03\x04 this is not really a zip file at all........")
kinds["not_a_zip.npz"] = "badZip"
buf = open(os.path.join(good, "deflated.npz"), "rb").read()
open(os.path.join(bad, "directory_cut.npz"), "wb").write(buf[: len(buf) - 40])
kinds["directory_cut.npz"] = "badZip"
bio = io.BytesIO()
with zipfile.ZipFile(bio, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("bomb.npy", npy_bytes(b"{'descr': '<f4', 'fortran_order': False, 'shape': (100000000,), }", data=b"\0" * 400_000_000)[:0] + b"\0" * 10_000_000)
open(os.path.join(bad, "member_not_npy.npz"), "wb").write(bio.getvalue())
kinds["member_not_npy.npz"] = "inMember"

json.dump({"good": expected, "bad": kinds}, open(os.path.join(root, "expected.json"), "w"), indent=0, sort_keys=True)
print(f"wrote {len(expected)} good and {len(kinds)} bad fixtures under {os.path.relpath(root)}")
