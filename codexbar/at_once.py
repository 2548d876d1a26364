"""Run one function over several items at once (one account per Codex home, say), each on a
daemon thread, and hand back the results as they finish.

Daemon threads rather than concurrent.futures: the interpreter joins a pool's workers at exit,
so a reading that hangs until its deadline would hold up quitting the tray or a command that has
already printed everything it needed.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def each_at_once(
    function: Callable[[Item], Result], items: Iterable[Item], *, name: str = "codexbar-each"
) -> Iterator[tuple[Item, Result]]:
    """`(item, function(item))` for every item, in the order they finish. One item runs on the
    caller's thread (no thread for the common case). An exception raised for an item is raised
    here when its turn comes."""
    items = list(items)
    if len(items) == 1:
        yield items[0], function(items[0])
        return
    done: queue.SimpleQueue = queue.SimpleQueue()

    def run(item: Item) -> None:
        try:
            done.put((item, function(item), None))
        except BaseException as error:  # handed to the caller, who decides
            done.put((item, None, error))

    for index, item in enumerate(items):
        threading.Thread(target=run, args=(item,), name=f"{name}-{index}", daemon=True).start()
    for _ in items:
        item, result, error = done.get()
        if error is not None:
            raise error
        yield item, result
