"""The progress bar the command line draws on stderr while it codes several files."""

import sys


class Bar:
    """A one-line progress bar on stderr, shown when several files are processed."""

    def __init__(self, total, enabled):
        self.total, self.done, self.enabled = total, 0, enabled and total > 1
        self._draw()

    def step(self):
        self.done += 1
        self._draw()
        if self.enabled and self.done == self.total:
            sys.stderr.write("\n")

    def _draw(self):
        if self.enabled:
            filled = 30 * self.done // self.total
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}")
            sys.stderr.flush()
