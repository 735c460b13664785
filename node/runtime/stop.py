"""Stopping a role process: cleanly on SIGTERM/SIGINT, or (tests only) dead at a crash point."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from node.runtime.context import NodeContext

log = logging.getLogger("rollproof.roles")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopFlag:
    """Set by SIGTERM/SIGINT: the loop finishes its current step and exits cleanly.

    `install()` takes over the two signals until `uninstall()` (or the end of a `with` block) puts
    the previous handlers back: a role run inside another program (a test, the devnet) must not
    leave that program deaf to Ctrl-C."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._previous: dict[int, Any] = {}

    def install(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread() and not self._previous:
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def uninstall(self) -> None:
        """Restore the handlers install() replaced (a no-op when it replaced none)."""
        if threading.current_thread() is not threading.main_thread():
            return
        while self._previous:
            sig, handler = self._previous.popitem()
            # None: the previous handler was not installed from Python; the default is the closest.
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.event.set()

    def __enter__(self) -> StopFlag:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    def __bool__(self) -> bool:
        return self.event.is_set()

    def set(self) -> None:
        self.event.set()

    def sleep(self, seconds: float) -> None:
        self.event.wait(seconds)


# Modules whose objects make the interpreter's own teardown slow (millions of GC-tracked objects).
HEAVY_MODULES = ("torch", "transformers")


def exit_process(code: int) -> NoReturn:
    """End a role process that has already shut down (store closed, p2p host stopped, logs flushed
    here) without the interpreter's teardown.

    With torch and transformers loaded, Python's final garbage collections (Py_FinalizeEx ->
    gc_collect_main, seen with py-spy) took 4-12 s on two loaded cores after a SIGTERM whose own
    shutdown had finished in well under a second; nothing of ours runs in that teardown. A process
    without those modules exits the ordinary way."""
    if not any(name in sys.modules for name in HEAVY_MODULES):
        raise SystemExit(code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed pipe: nothing more to say anyway
            pass
    os._exit(code)


def crash_point(ctx: NodeContext, state: Any) -> None:
    """Tests only: die by SIGKILL right after `state` was persisted (no cleanup, like a power cut)."""
    if ctx.settings.crash_after and ctx.settings.crash_after == str(state):
        log.warning("crash_after=%s: killing this process now", state)
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)
