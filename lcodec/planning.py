"""One planner of input -> output trees, for the command line (local paths) and Dask batches (any filesystem's
URLs): an output is named after its input with the new suffix, at the input's place below the input directory, and
a plan where two inputs would be written to one output is refused before anything is written."""

import os
import posixpath
from pathlib import Path

STDIO = "-"


def renamed(name, suffix):
    """A file name (or a relative POSIX path) with its suffix replaced: photo.png -> photo.lcd, a/b.tif -> a/b.lcd."""
    return posixpath.splitext(name)[0] + suffix


def unique(planned, error=ValueError):
    """Refuse (error) a plan of (input, output, key) in which two inputs share an output key."""
    seen = {}
    for src, dst, key in planned:
        if key in seen:
            raise error(f"{seen[key]} and {src} would both be written to {dst}")
        seen[key] = src


def expand(inputs, suffixes, recursive=False, error=ValueError):
    """Input files as (file, the directory it was found in, or None): files as given, directories expanded to
    their files with one of `suffixes` (with -r, those of every subdirectory too; symbolic links to directories
    are not followed)."""
    found = []
    for name in inputs:
        path = Path(name)
        if name != STDIO and path.is_dir():
            if recursive:
                files = (Path(top, f) for top, _, names in os.walk(path) for f in names)
            else:
                files = path.iterdir()
            found += [(p, path) for p in sorted(files) if p.is_file() and p.suffix.lower() in suffixes]
        else:
            found.append((name if name == STDIO else path, None))
    if any(f == STDIO for f, _ in found) and len(found) > 1:
        raise error("stdin (-) can only be the single input")
    if not found:
        raise error("no input files found")
    return found


def plan(found, output, suffix, error=ValueError):
    """(input, output) pairs: one output file, or outputs named after the inputs, beside them or in a directory
    (-o DIR, or any -o with a directory input), where a file found below an input directory keeps its path below
    it. Refused before anything is written: two inputs with one output, an output that is its own input."""
    files = [f for f, _ in found]
    to_dir = output is not None and output != STDIO and (
        Path(output).is_dir() or output.endswith(("/", os.sep)) or any(root is not None for _, root in found))
    if files == [STDIO]:
        if to_dir:
            raise error("stdin (-) needs an output file, or - for stdout")
        return [(STDIO, output or STDIO)]
    if len(files) == 1 and output is not None and not to_dir:
        pairs = [(files[0], output)]
    elif output == STDIO:
        raise error("several inputs cannot all go to stdout")
    else:
        outdir = Path(output) if output is not None else None
        pairs = [(f, _out_dir(f, root, outdir) / renamed(f.name, suffix if isinstance(suffix, str) else suffix(f)))
                 for f, root in found]
    unique([(src, dst, os.path.abspath(dst)) for src, dst in pairs if dst != STDIO], error)
    for src, dst in pairs:
        if dst != STDIO and Path(dst).exists() and os.path.samefile(src, dst):
            raise error(f"{src}: the output would replace its own input")
    if to_dir:
        for parent in sorted({Path(dst).parent for _, dst in pairs}):
            parent.mkdir(parents=True, exist_ok=True)
    return pairs


def _out_dir(file, root, outdir):
    """Where a file's output goes: beside it, or in -o DIR at the file's place below the input directory."""
    if outdir is None:
        return file.parent
    return outdir / file.parent.relative_to(root) if root is not None else outdir


def parallelism(jobs, threads, files, cores):
    """(files in parallel, tile threads per file) for -j and -T (0: not given). What is not given fills the
    cores, so that by default the two multiply to at most the cores; what is given is kept even above them."""
    jobs = max(1, min(jobs or cores // (threads or 1), files))
    return jobs, threads or max(1, cores // jobs)
