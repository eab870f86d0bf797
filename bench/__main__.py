"""`python -m bench`: see bench/harness.py."""

import os

# Single thread for every codec; numba reads this when it is first imported (by lcodec).
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from bench.harness import main  # noqa: E402

raise SystemExit(main())
