"""Preemption: SIGTERM/SIGUSR1 ask the loop to stop after the current optimizer step.

The loop then saves a checkpoint, logs, and exits with PREEMPTED_EXIT_CODE without writing DONE; a rerun
resumes from that checkpoint. Slurm sends SIGUSR1 before the time limit (`--signal=USR1@120`) and SIGTERM
on preemption or scancel.
"""

from __future__ import annotations

import signal
import threading

PREEMPTED_EXIT_CODE = 75
"""Exit status of a run stopped by a signal after saving its checkpoint (EX_TEMPFAIL: rerun to resume)."""

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class Preempted(Exception):
    """Raised inside the training loop after the preemption checkpoint has been written."""

    def __init__(self, step: int, checkpoint: str):
        self.step, self.checkpoint = step, checkpoint
        super().__init__(f"preempted at step {step}; checkpoint {checkpoint}")


class StopRequest:
    """Installs the handlers (main thread only) and restores the previous ones on `close()`."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame) -> None:  # noqa: ARG002
        self.signum = signum

    def install(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def close(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def __enter__(self) -> "StopRequest":
        return self.install()

    def __exit__(self, *exc) -> None:
        self.close()
