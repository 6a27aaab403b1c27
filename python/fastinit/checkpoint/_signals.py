"""What SIGINT and SIGTERM do to a checkpoint write.

While a writer holds its staging directory, SIGTERM (whose default action kills at once,
leaving the staging directory and the lock) raises :class:`Interrupted` instead, so the write
is undone as for Ctrl-C; once it is undone the default action runs (the process still dies of
SIGTERM). That applies only where SIGTERM has its default action and the writer runs in the main
thread; a program's own handler is left alone.

The swap and what follows it (fsync, removing the replaced directory, the lock) are never cut
short: a signal arriving then is held and delivered when the write is finished, as
:class:`Interrupted` with ``committed=True``, so a caller can tell the truth about which
checkpoint ``out_dir`` holds.
"""

from __future__ import annotations

import signal
import threading
from typing import Any, Dict, List

_HELD = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A write stopped by ``signum``; ``committed``: the new checkpoint was in place first."""

    def __init__(self, signum: int, committed: bool = False) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum, self.committed = signum, committed


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class WriteSignals:
    """One write's handling of SIGINT and SIGTERM; see the module docstring."""

    def __init__(self) -> None:
        self._original: Dict[int, Any] = {}  # the handlers to put back at the end
        self._seen: List[int] = []
        self._term = False

    def install(self) -> None:
        """SIGTERM undoes the write first (where it would kill at once)."""
        if _main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            self._original[signal.SIGTERM] = signal.SIG_DFL
            signal.signal(signal.SIGTERM, self._on_term)

    def _on_term(self, signum: int, frame: Any) -> None:
        self._term = True
        raise Interrupted(signum)

    def hold(self) -> None:
        """From now until :meth:`finish`, SIGINT and SIGTERM wait (main thread; a signal set
        to SIG_IGN stays ignored)."""
        if not _main_thread():
            return
        for s in _HELD:
            handler = signal.getsignal(s)
            if handler is not signal.SIG_IGN:
                self._original.setdefault(s, handler)
                signal.signal(s, lambda n, f: self._seen.append(n))

    def finish(self, committed: bool) -> None:
        """Put the handlers back, then deliver what :meth:`hold` kept and die of a SIGTERM
        that :meth:`install` turned into an exception. A KeyboardInterrupt raised then is an
        :class:`Interrupted` with ``committed``."""
        for s, h in self._original.items():
            signal.signal(s, h)
        self._original.clear()
        seen, self._seen = self._seen, []
        if self._term:
            self._term = False
            signal.raise_signal(signal.SIGTERM)  # the default action: the process ends here
        for s in dict.fromkeys(seen):
            try:
                signal.raise_signal(s)
            except KeyboardInterrupt as e:
                raise Interrupted(getattr(e, "signum", s), committed) from None


__all__ = ["Interrupted", "WriteSignals"]
