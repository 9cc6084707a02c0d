"""The expected-time line: one warm-up step untimed, the next 3 timed, the rest extrapolated."""

from __future__ import annotations

import torch

from babybias.train import eta


def test_expected_time_extrapolates_three_timed_steps(monkeypatch):
    clock = iter([10.0, 13.0])  # end of step 1 (warm-up), end of step 4: 3 steps in 3 s
    monkeypatch.setattr(eta.time, "perf_counter", lambda: next(clock))
    lines = []
    hook = eta.ExpectedTime(first_step=0, total_steps=484, device=torch.device("cpu"), write=lines.append)
    for step in range(1, 11):
        hook(step)
    assert hook.seconds_per_step == 1.0 and len(lines) == 1
    assert lines[0].startswith("expected training time: about 8.0 min for the remaining 480 steps (1.00 s/step")


def test_expected_time_after_a_resume_and_on_short_runs(monkeypatch):
    clock = iter([0.0, 0.6])
    monkeypatch.setattr(eta.time, "perf_counter", lambda: next(clock))
    lines = []
    hook = eta.ExpectedTime(first_step=100, total_steps=200, device=torch.device("cpu"), write=lines.append)
    for step in range(101, 201):  # a resumed run counts from its first new step
        hook(step)
    assert lines == ["expected training time: about 19 s for the remaining 96 steps (0.20 s/step over steps "
                     "102-104; checkpoints and validation add a little)"]
    quiet = eta.ExpectedTime(first_step=0, total_steps=3, device=torch.device("cpu"), write=lines.append)
    for step in range(1, 4):  # too short to measure: says nothing
        quiet(step)
    assert len(lines) == 1


def test_chain_calls_every_hook_in_order():
    seen = []
    eta.chain(None, lambda s: seen.append(("a", s)), lambda s: seen.append(("b", s)))(7)
    assert seen == [("a", 7), ("b", 7)]
