"""The expected training time, measured on the machine at hand: printed once, a few steps into a run.

One warm-up step (kernel selection, allocator) is not timed; the next `measure` steps are, and the remaining
steps are extrapolated from them. Checkpoints and validation add a little on top.
"""

from __future__ import annotations

import time
from typing import Callable

import torch

StepHook = Callable[[int], None]


class ExpectedTime:
    """An `on_step_end` hook for `Pretrainer.fit` that prints the expected time of the rest of the run."""

    def __init__(self, first_step: int, total_steps: int, device: torch.device, measure: int = 3,
                 write: Callable[[str], None] | None = None):
        self.begin = first_step + 1  # the end of the warm-up step
        self.end = self.begin + measure
        self.total_steps = total_steps
        self.measure = measure
        self.device = device
        self.write = write or _write
        self.seconds_per_step: float | None = None
        self._t0 = 0.0

    def _now(self) -> float:
        if self.device.type == "cuda":  # two syncs per run: the queue must be empty for a wall-clock reading
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def __call__(self, step: int) -> None:
        if self.end >= self.total_steps:  # too short a run to be worth a forecast
            return
        if step == self.begin:
            self._t0 = self._now()
        elif step == self.end:
            self.seconds_per_step = (self._now() - self._t0) / self.measure
            left = self.total_steps - step
            self.write(f"expected training time: {_minutes(left * self.seconds_per_step)} for the remaining {left} "
                       f"steps ({self.seconds_per_step:.2f} s/step over steps {self.begin + 1}-{self.end}; "
                       "checkpoints and validation add a little)")


def chain(*hooks: StepHook | None) -> StepHook:
    """One hook that calls each given hook in turn."""
    active = [h for h in hooks if h is not None]

    def call(step: int) -> None:
        for hook in active:
            hook(step)

    return call


def _minutes(seconds: float) -> str:
    return f"about {seconds:.0f} s" if seconds < 90 else f"about {seconds / 60:.1f} min"


def _write(message: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(message)
