"""A watchdog that ends the job when one rank stops making progress.

Inside a distributed ``fit`` every rank meets the others in a collective at
every step.  A rank that gets stuck (a deadlock, an endless loop in a
callback, a file system that stopped answering) would leave the others waiting
in their next collective for ever.  Like Horovod's stall inspector and the
timeout of ``torch.distributed``, a background thread watches each rank:

* *computing* (between two collectives of a ``fit``): after ``timeout``
  seconds without reaching its next collective, the rank is the stuck one.
  It aborts the job, naming itself and printing where its main thread is;
* *waiting* in a collective: the others are late.  It aborts after
  ``timeout`` plus a grace period, so that the stuck rank, which stopped first,
  normally reports first (with its stack).

Outside a distributed ``fit`` (loading data, the user's own code) nothing is
watched.  The thread only sleeps and compares clocks; it needs the GIL for a
moment, which MPI calls and cnnfast's kernels release.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback

__all__ = ["Watchdog"]


class Watchdog:
    """Deadlines on this rank's progress, checked by a daemon thread.

    Parameters
    ----------
    world : World
        Its ``timeout`` (seconds, read at every deadline) and ``abort``.
    """

    def __init__(self, world):
        self.world = world
        self._lock = threading.Lock()
        self._busy = 0  # depth of nested busy() stretches
        self._deadline = None  # time.monotonic() limit, None when not watching
        self._doing = ""
        self._last = "the start"
        self._thread = None

    # ------------------------------------------------------------ main thread

    def busy(self, what):
        """Context: a stretch (a distributed fit) in which this rank must keep reaching its collectives."""
        return _Stretch(self, what)

    def waiting(self, what):
        """Context: this rank waits in collective ``what``."""
        return _Waiting(self, what)

    def _set(self, seconds, doing):
        with self._lock:
            self._deadline = None if seconds is None else time.monotonic() + seconds
            self._doing = doing
        if seconds is not None and self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="cnnfast-watchdog", daemon=True)
            self._thread.start()

    def _computing(self):
        """Between collectives of a busy stretch: the next one must come within ``timeout``."""
        if self._busy:
            self._set(self.world.timeout, f"computing after {self._last}")
        else:
            self._set(None, "")

    # ----------------------------------------------------------------- thread

    def _watch(self):
        while True:
            timeout = self.world.timeout
            time.sleep(0.5 if timeout is None else min(0.5, max(0.02, timeout / 20)))
            with self._lock:
                deadline, doing = self._deadline, self._doing
            if deadline is not None and time.monotonic() > deadline:
                self._expire(doing)
                return

    def _expire(self, doing):
        main = sys._current_frames().get(threading.main_thread().ident)
        where = "".join(traceback.format_stack(main)) if main is not None else "(unknown)\n"
        timeout = self.world.timeout
        if doing.startswith("waiting"):
            message = (
                f"{doing} for more than {timeout + grace(timeout):g} s: another rank is stuck or dead "
                f"(timeout={timeout:g} s). "
            )
        else:
            message = (
                f"made no progress for {timeout:g} s ({doing}; timeout={timeout:g} s): this rank is stuck. "
                f"Its main thread is at:\n{where}"
            )
        self.world.abort(message + "Aborting the job.", code=1)


def grace(timeout):
    """Extra seconds a waiting rank gives a stuck one to report itself first."""
    return min(timeout, 10.0)


class _Stretch:
    def __init__(self, watchdog, what):
        self.watchdog, self.what = watchdog, what

    def __enter__(self):
        watchdog = self.watchdog
        watchdog._busy += 1
        watchdog._last = f"the start of {self.what}"
        watchdog._computing()
        return self

    def __exit__(self, *exc):
        self.watchdog._busy -= 1
        self.watchdog._computing()
        return False


class _Waiting:
    def __init__(self, watchdog, what):
        self.watchdog, self.what = watchdog, what

    def __enter__(self):
        timeout = self.watchdog.world.timeout
        self.watchdog._set(None if timeout is None else timeout + grace(timeout), f"waiting in {self.what}")
        return self

    def __exit__(self, *exc):
        self.watchdog._last = self.what
        self.watchdog._computing()
        return False
