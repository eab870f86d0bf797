"""The text `lcodec info` prints of a file's header: geometry, frames, tiles and methods, model, metadata, size."""


def describe(name, h):
    """The lines of `lcodec info` for the Header h of the file `name`."""
    methods = ", ".join(f"{k} {v}" for k, v in sorted(h.method_counts.items()))
    ty, tx = h.tiles
    frames = h.sequence.frames if h.sequence else (h,)
    lines = [f"file: {name}", f"format: lcodec version {h.version}"]
    if h.sequence:
        s = h.sequence
        lines.append(f"frames: {len(frames)} from {s.format or 'an image sequence'}, loop {s.loop}, durations "
                     f"{', '.join(map(str, s.durations))} ms")
    lines += [f"image: {f.width}x{f.height}, mode {f.mode}, {f.channels} channel(s)" for f in frames]
    lines += [
        f"tiles: {h.tile}x{h.tile}, {tx}x{ty} tiles; methods: {methods}",
        f"model: {h.model} (sha256 {h.model_sha256}), coder precision {h.precision}" if h.model
        else "model: none (no method of the file needs one)",
    ]
    if h.palette is not None:
        lines.append(f"palette: {len(h.palette) // len(h.palette_mode)} {h.palette_mode} entries")
    if h.transparency is not None:
        lines.append(f"transparency: {h.transparency!r}")
    lines += [f"metadata: {kind} {len(data)} bytes" for kind, data in getattr(h, "metadata", ())]
    lines += [
        f"size: {h.file_size} bytes (header and tile table {h.header_size}), {h.bpsp:.4f} bits per sub-pixel",
        f"pixel sha256: {h.pixel_sha256}",
    ]
    return "\n".join(lines)
