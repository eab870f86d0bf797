import glob, json, time, sys, numpy as np, imagecodecs
out = {}
for f in sorted(glob.glob('../shared/data/deep/*.png')):
    a = imagecodecs.png_decode(open(f,'rb').read())
    bits = max(int(a.max()).bit_length(), 1)
    t = time.perf_counter()
    enc = imagecodecs.jpegxl_encode(a, effort=9, lossless=True, bitspersample=bits, numthreads=1)
    te = time.perf_counter() - t
    back = imagecodecs.jpegxl_decode(enc)
    assert np.array_equal(back, a), f
    png = len(open(f,'rb').read())
    out[f.split('/')[-1]] = dict(samples=a.size, bits=bits, jxl=len(enc), png=png, jxl_s=te)
    print(f.split('/')[-1], a.shape, bits, round(8*len(enc)/a.size, 3), round(te, 1), flush=True)
json.dump(out, open('bench/wip/deep_jxl.json', 'w'), indent=1)
