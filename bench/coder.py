"""Entropy-coder benchmark: lcodec's range coder against constriction 0.5 on image-model-shaped data.

    NUMBA_NUM_THREADS=1 python -m bench.coder [-n 1000000] [--precision-sweep]

Every symbol has its own 256-way discretised logistic (a prediction in 0..255, a log-uniform scale),
as a PixelCNN would give. constriction (`stream.queue.RangeEncoder` + `stream.model.Categorical(
perfect=False)`) and lcodec (`lcodec.entropy.float_cdf.encode_probs`/`decode_probs`: from each row only the CDF entries
its symbol needs) start from the same float probabilities, float64 and then float32 (what a torch model emits: half
the memory traffic; constriction takes float32 too). A line before the table gives the time to merely read the
float64 probabilities once (numpy sum): coding from them cannot beat that memory traffic.

A second table codes from ready integer CDFs (`lcodec.entropy.range_coder`): per-symbol rows handed to `Encoder`/`Decoder` in
blocks of 1024 (1 MB) as a model emits them, each block quantised just before it is coded (only the coding is
timed; reading 2 MB of probabilities per block pushes the fresh CDFs out of L2); the same rows as one (N, 257)
table in memory (1 GB for 10**6 symbols: that measures this machine's memory as much as the coder); and 64 shared
rows named per symbol by an index (`index=`), a table that stays in cache: the coder's own speed. Timings are the
best of `--repeat` runs.
"""

import argparse
import time

import numpy as np

from lcodec.entropy import range_coder
from lcodec.entropy.float_cdf import decode_probs, encode_probs, quantize

BLOCK = 1024  # CDF rows per block: 1 MB of uint32, an L2 cache's worth
SCALES = {"image": (0.3, 40.0), "sharp": (0.2, 1.5), "wide": (8.0, 60.0)}


def logistic_probs(n, scale_range, seed=0, chunk=1 << 16):
    """(probabilities (n, 256) float64, symbols (n,)): each row a discretised logistic, each symbol drawn from it."""
    rng = np.random.default_rng(seed)
    probs = np.empty((n, 256))
    symbols = np.empty(n, np.int64)
    edges = np.arange(1, 256) - 0.5
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        mu = rng.uniform(0, 255, (m, 1))
        s = np.exp(rng.uniform(*np.log(scale_range), (m, 1)))
        cdf = np.empty((m, 257))
        cdf[:, 0], cdf[:, -1] = 0.0, 1.0
        cdf[:, 1:-1] = 0.5 * (1 + np.tanh((edges - mu) / (2 * s)))  # the logistic sigmoid, without overflow
        probs[start:start + m] = np.diff(cdf, axis=1)
        symbols[start:start + m] = (cdf[:, 1:-1] <= rng.random((m, 1))).sum(axis=1)
    # A float sigmoid can round a far tail to exactly 0; give it the smallest normal mass instead.
    np.maximum(probs, np.finfo(np.float64).tiny, out=probs)
    return probs, symbols


def best_time(fn, repeat):
    best, result = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def run_constriction(probs, symbols, repeat):
    import constriction

    family = constriction.stream.model.Categorical(perfect=False)
    sym32 = symbols.astype(np.int32)

    def enc():
        encoder = constriction.stream.queue.RangeEncoder()
        encoder.encode(sym32, family, probs)
        return encoder.get_compressed()

    t_enc, words = best_time(enc, repeat)
    t_dec, out = best_time(lambda: constriction.stream.queue.RangeDecoder(words).decode(family, probs), repeat)
    if not np.array_equal(out, sym32):
        raise RuntimeError("constriction did not round-trip")
    return t_enc, t_dec, words.size * 32


def run_ours_from_probs(probs, symbols, precision, repeat):
    t_enc, data = best_time(lambda: encode_probs(symbols, probs, precision), repeat)
    t_dec, out = best_time(lambda: decode_probs(data, probs, precision), repeat)
    if not np.array_equal(out, symbols):
        raise RuntimeError("lcodec did not round-trip")
    return t_enc, t_dec, len(data) * 8


def run_ours_from_cdfs(cdfs, symbols, precision, repeat, validate):
    t_enc, data = best_time(lambda: range_coder.encode(symbols, cdfs, precision, validate=validate), repeat)
    t_dec, out = best_time(lambda: range_coder.decode(data, cdfs, precision, validate=validate), repeat)
    if not np.array_equal(out, symbols):
        raise RuntimeError("lcodec did not round-trip")
    return t_enc, t_dec, len(data) * 8


def comparison(n, precision, repeat):
    probs, symbols = logistic_probs(n, SCALES["image"])
    float_bits = -np.log2(probs[np.arange(n), symbols]).sum()
    cdfs = quantize(probs, precision)
    quant_bits = range_coder.cost_bits(symbols, cdfs, precision)
    t_read, _ = best_time(probs.sum, repeat)
    probs32 = probs.astype(np.float32)
    f64 = run_constriction(probs, symbols, repeat)
    f32 = run_constriction(probs32, symbols, repeat)
    rows = [  # (name, encode s, decode s, bits, bits over the quantised model or None, constriction row to compare)
        ("constriction 0.5, from float64 probs", *f64, None, f64),
        (f"lcodec P={precision}, from float64 probs (encode_probs / decode_probs)",
         *run_ours_from_probs(probs, symbols, precision, repeat), quant_bits, f64),
        ("constriction 0.5, from float32 probs", *f32, None, f32),
        (f"lcodec P={precision}, from float32 probs", *run_ours_from_probs(probs32, symbols, precision, repeat),
         range_coder.cost_bits(symbols, quantize(probs32, precision), precision), f32),
    ]
    print(f"{n} symbols, 256-way discretised logistics, scale log-uniform in {SCALES['image']}; "
          f"float cross-entropy {float_bits / n:.4f} bits/symbol; best of {repeat}")
    print(f"Reading the float64 probabilities once (numpy sum, {probs.nbytes / 1e9:.1f} GB): {t_read:.3f} s, "
          f"{n / t_read / 1e6:.2f} M rows/s = {f64[0] / t_read:.2f} × constriction's float64 encode rate\n")
    print("| coder | encode Msym/s | decode Msym/s | bits over Σ−log2 p (float) | bits over Σ−log2 q (quantised) "
          "| encode × constriction | decode × constriction |")
    print("|---|---|---|---|---|---|---|")
    for name, t_enc, t_dec, bits, qbits, (base_enc, base_dec, _) in rows:
        over_q = "n/a" if qbits is None else f"{bits - qbits:+.0f}"
        print(f"| {name} | {n / t_enc / 1e6:.2f} | {n / t_dec / 1e6:.2f} | "
              f"{bits - float_bits:+.0f} ({100 * (bits - float_bits) / float_bits:+.4f} %) | {over_q} | "
              f"{base_enc / t_enc:.2f} | {base_dec / t_dec:.2f} |")
    ready = [
        (f"per-symbol rows, fresh blocks of {BLOCK}, validated",
         *run_blocks(probs, symbols, precision, repeat, True), quant_bits),
        (f"per-symbol rows, fresh blocks of {BLOCK}, validate=False",
         *run_blocks(probs, symbols, precision, repeat, False), quant_bits),
        (f"one ({n}, 257) table in memory ({cdfs.nbytes / 1e9:.1f} GB), validated",
         *run_ours_from_cdfs(cdfs, symbols, precision, repeat, True), quant_bits),
        (f"one ({n}, 257) table in memory, validate=False",
         *run_ours_from_cdfs(cdfs, symbols, precision, repeat, False), quant_bits),
        ("64 shared rows + `index=` (validated once; in cache)", *indexed_tables(n, precision, repeat)),
    ]
    print(f"\nlcodec P={precision} from ready integer CDFs\n")
    print("| CDFs | encode Msym/s | decode Msym/s | bits over Σ−log2 q |")
    print("|---|---|---|---|")
    for name, t_enc, t_dec, bits, qbits in ready:
        print(f"| {name} | {n / t_enc / 1e6:.1f} | {n / t_dec / 1e6:.1f} | {bits - qbits:+.0f} |")


def run_blocks(probs, symbols, precision, repeat, validate):
    """(encode s, decode s, bits) coding the rows a block at a time through Encoder and Decoder,
    timing only the coding calls: each block's CDFs are quantised just before, as a model would emit them."""
    n = symbols.size
    blocks = [(a, min(a + BLOCK, n)) for a in range(0, n, BLOCK)]
    t_enc = t_dec = np.inf
    for _ in range(repeat):
        encoder, spent = range_coder.Encoder(precision), 0.0
        for a, b in blocks:
            cdfs = quantize(probs[a:b], precision)
            t = time.perf_counter()
            encoder.encode(symbols[a:b], cdfs, validate=validate)
            spent += time.perf_counter() - t
        data = encoder.finish()
        t_enc = min(t_enc, spent)
        decoder, spent, out = range_coder.Decoder(data, precision), 0.0, []
        for a, b in blocks:
            cdfs = quantize(probs[a:b], precision)
            t = time.perf_counter()
            out.append(decoder.decode(cdfs, validate=validate))
            spent += time.perf_counter() - t
        decoder.finish()
        t_dec = min(t_dec, spent)
        if not np.array_equal(np.concatenate(out), symbols):
            raise RuntimeError("lcodec did not round-trip")
    return t_enc, t_dec, len(data) * 8


def indexed_tables(n, precision, repeat, n_tables=64):
    """Ready CDFs as a hyperprior-style model gives them: a few shared rows (one per quantised scale,
    `n_tables` log-spaced logistics centred in the range), each symbol coded under the row its index names.
    The table stays in cache, so this is the coder's own speed rather than the memory's."""
    scales = np.exp(np.linspace(*np.log(SCALES["image"]), n_tables))
    edges = np.arange(1, 256) - 0.5
    cdf = np.empty((n_tables, 257))
    cdf[:, 0], cdf[:, -1] = 0.0, 1.0
    cdf[:, 1:-1] = 0.5 * (1 + np.tanh((edges - 127.5) / (2 * scales[:, None])))
    table = quantize(np.maximum(np.diff(cdf, axis=1), np.finfo(np.float64).tiny), precision)
    rng = np.random.default_rng(2)
    index = rng.integers(0, n_tables, n)
    u = rng.integers(0, 1 << precision, n)
    symbols = np.empty(n, np.int64)
    for row in range(n_tables):  # per row: no (n, 257) temporary
        pick = index == row
        symbols[pick] = np.searchsorted(table[row], u[pick], side="right") - 1
    t_enc, data = best_time(lambda: range_coder.encode(symbols, table, precision, index=index), repeat)
    t_dec, out = best_time(lambda: range_coder.decode(data, table, precision, index=index), repeat)
    if not np.array_equal(out, symbols):
        raise RuntimeError("lcodec did not round-trip")
    return t_enc, t_dec, len(data) * 8, range_coder.cost_bits(symbols, table, precision, index=index)


def precision_sweep(n):
    """Total coding loss (quantisation + coder) against the float cross-entropy, per precision and regime."""
    data = {name: logistic_probs(n, scales, seed=1) for name, scales in SCALES.items()}
    print(f"\nCoding loss over the float cross-entropy, {n} symbols per regime\n")
    print("| precision | " + " | ".join(f"{name} {SCALES[name]}" for name in SCALES) + " |")
    print("|---|" + "---|" * len(SCALES))
    for name, (probs, symbols) in data.items():
        h = -np.log2(probs[np.arange(n), symbols]).sum()
        data[name] = (probs, symbols, h)
    print("| cross-entropy, bits/symbol | " + " | ".join(f"{h / n:.3f}" for _, _, h in data.values()) + " |")
    for precision in (12, 14, 16, 18, 20, 22, 24, 28, 32):
        cells = []
        for probs, symbols, h in data.values():
            bits = 8 * len(encode_probs(symbols, probs, precision))
            cells.append(f"{100 * (bits - h) / h:+.4f} %")
        print(f"| {precision} | " + " | ".join(cells) + " |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10**6, help="symbols to code")
    parser.add_argument("--precision", type=int, default=range_coder.DEFAULT_PRECISION)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--precision-sweep", action="store_true", help="also tabulate coding loss per precision")
    args = parser.parse_args(argv)
    comparison(args.n, args.precision, args.repeat)
    if args.precision_sweep:
        precision_sweep(min(args.n, 200_000))


if __name__ == "__main__":
    main()
