"""Single keys from the terminal, waiting at most a given time (the view's tick), no busy loop."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ReadKey = Callable[[float], "str | None"]


@contextmanager
def keypresses() -> Iterator[ReadKey]:
    """Put the terminal in cbreak mode (keys arrive one by one, unechoed; Ctrl-C still raises
    KeyboardInterrupt) and give a `read_key(timeout)`; the terminal's mode is restored after."""
    if sys.platform == "win32":
        yield _windows_read_key
        return
    import select
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)

    def read_key(timeout: float) -> str | None:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return None
        data = os.read(fd, 32)
        return data.decode("utf-8", "replace")[:1] if data else None

    try:
        yield read_key
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _windows_read_key(timeout: float) -> str | None:
    import msvcrt
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if msvcrt.kbhit():
            return msvcrt.getwch()
        time.sleep(0.05)  # msvcrt has no blocking read with a timeout
    return None
