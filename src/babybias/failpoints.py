"""Named crash points, so tests can prove that a kill at any step leaves a run that a rerun completes.

Code that must survive `kill -9` calls `failpoint("<step>")` between its durable steps. Normally that does
nothing. With `BABYBIAS_FAILPOINT=<step>` in the environment the process sends itself SIGKILL there (a real
kill -9: no `finally`, no atexit, files as they are); tests that stay in one process install a hook instead
(`hooked(fn)`), which may raise to stop the command at that step. Databases call these "failpoints".
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ENV = "BABYBIAS_FAILPOINT"
_hooks: list[Callable[[str], None]] = []


def failpoint(name: str) -> None:
    """A step boundary named `name`: run the installed hooks, then die here if $BABYBIAS_FAILPOINT names it."""
    for hook in list(_hooks):
        hook(name)
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


@contextmanager
def hooked(hook: Callable[[str], None]) -> Iterator[None]:
    """Call `hook(name)` at every failpoint inside the block."""
    _hooks.append(hook)
    try:
        yield
    finally:
        _hooks.remove(hook)
