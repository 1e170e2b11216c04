"""A watch for the memory trap of training loops: keeping every step's graph alive.

A step's graph lives as long as any Value of it does. ``history.append(loss)`` or
``total += loss`` keeps one Value of every step, so every step's whole graph stays in memory --
about 1.8 MiB a step for micrograd's demo, 500 MiB after 300 steps. PyTorch has the same trap,
and says nothing. This watch runs after each ``backward()`` (registered in
``record.AFTER_BACKWARD``) and warns, once, when the records of *earlier* backward calls that are
still alive add up to `KEPT_WARNING` bytes, saying what to keep instead: ``loss.data``.
"""

import warnings as _warnings
from _weakrefset import WeakSet as _WeakSet  # (weakref.WeakSet itself: abc imports it at start-up)

from . import record as _record

KEPT_WARNING = 256 << 20  # bytes of earlier steps' records alive before the warning
ENTRY_BYTES = 168  # what one entry of a record costs, its gradient included (measured: the demo)
_WATCHED_AT_LEAST = 16  # records alive before they are added up (a few are alive in any loop)

_finished = _WeakSet()  # the records backward() has swept, while something keeps them alive


def watch(swept: dict) -> None:
    """After a backward(): add up the records earlier backward() calls swept that are still
    alive, and warn once they pass `KEPT_WARNING` bytes (then stop watching)."""
    _finished.update(swept)
    if len(_finished) < _WATCHED_AT_LEAST:
        return
    kept = ENTRY_BYTES * sum(len(rec.data) for rec in _finished if rec not in swept)
    if kept > KEPT_WARNING:
        _record.AFTER_BACKWARD.remove(watch)
        _finished.clear()
        _warnings.warn(
            f"the graphs of earlier training steps are still in memory ({kept >> 20} MiB, and "
            "growing): the program keeps a Value from each step, for example with "
            "history.append(loss) or total += loss. Keep the number instead: loss.data. (If you "
            "keep these graphs on purpose, ignore this; it is shown once.)",
            UserWarning, stacklevel=4)


_record.AFTER_BACKWARD.append(watch)

__all__ = ["watch", "KEPT_WARNING"]
