import sys, time, glob, numpy as np
from PIL import Image
from lcodec import fallback, formats
from lcodec.mixing import planes
from lcodec.mixing.logistic import tables
T = tables(127)
NO = np.frombuffer(b"", np.uint8)

def code(plane, bits, tb=16):
    img = np.ascontiguousarray(plane.astype(np.uint16))
    t = time.perf_counter()
    s, _ = planes.plane_kernel(False, img, bits, NO, tb, T, -1)
    te = time.perf_counter() - t
    out = np.zeros_like(img)
    t = time.perf_counter()
    planes.plane_kernel(True, out, bits, s, tb, T, -1)
    td = time.perf_counter() - t
    assert np.array_equal(out, img), "round trip"
    return len(s), te, td

rng = np.random.default_rng(0)
for bits in (1, 3, 8, 12, 16):
    a = rng.integers(0, 1 << bits, (12, 17, 2))
    print(bits, code(a, bits))

from lcodec import container
rows = []
for f in sorted(g for g in glob.glob("../shared/data/graphics/*") if g.endswith((".png", ".tif"))):
    pic = formats.read(f, metadata=False)
    fr = pic.frames[0]
    mode = fr.mode
    px = fr.pixels
    cases = []
    if mode == "P":
        cases.append(("palette", px[:, :, None], max(int(px.max()).bit_length(), 1)))
    elif mode == "1":
        cases.append(("bilevel", px[:, :, None].astype(np.uint8), 1))
    elif mode in ("RGBA", "LA"):
        a = px[:, :, -1:]
        if (a != a.flat[0]).any():
            cases.append(("alpha", a, 8))
    for kind, plane, bits in cases:
        fb_bits = 1 if kind == "bilevel" else 8
        fb = len(fallback.encode(np.ascontiguousarray(plane), fb_bits)[1])
        n, te, td = code(plane, bits)
        rows.append((kind, f.split("/")[-1], plane.size, bits, fb, n, te, td))
        print(f"{kind:8s} {f.split('/')[-1]:45s} {plane.size:8d} b{bits:2d} fallback {fb:8d} engine {n:8d} ratio {n/fb:.3f}  enc {te:.1f}s dec {td:.1f}s", flush=True)
for kind in ("palette", "alpha", "bilevel"):
    r = [x for x in rows if x[0] == kind]
    if r:
        print(kind, "total fallback", sum(x[4] for x in r), "engine", sum(x[5] for x in r), "ratio", round(sum(x[5] for x in r) / sum(x[4] for x in r), 3), "engine wins", sum(x[5] < x[4] for x in r), "of", len(r))
