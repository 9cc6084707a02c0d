"""Per-step metrics to metrics.jsonl, a tqdm progress bar and wandb (rank 0 only).

wandb's mode is `WANDB_MODE` from the environment when set, else `wandb.mode`; `disabled` imports nothing.
Its files go to `<run>/wandb/`; the run id is kept in `<run>/wandb_id.txt` so a resumed run continues it.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from babybias.configs.common import WandbConfig
from babybias.runs import RunDir, atomic_write_text, describe_lines, read_jsonl_report, to_jsonable


def wandb_mode(cfg: WandbConfig) -> str:
    return os.environ.get("WANDB_MODE") or cfg.mode or "disabled"


class MetricsLogger:
    def __init__(self, run: RunDir, wandb_cfg: WandbConfig, config: dict, total_steps: int, start_step: int,
                 enabled: bool = True):
        self.run, self.enabled = run, enabled
        self._wandb = None
        self._bar = None
        if not enabled:
            return
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total_steps, initial=start_step, desc="pretrain", unit="step", dynamic_ncols=True,
                         mininterval=1.0)
        mode = wandb_mode(wandb_cfg)
        if mode != "disabled":
            self._wandb = _start_wandb(run, wandb_cfg, mode, config)

    def log(self, record: dict) -> None:
        if not self.enabled:
            return
        self.run.log(record)
        if self._wandb is not None:
            self._wandb.log({f"train/{k}": v for k, v in record.items() if isinstance(v, (int, float))},
                            step=record.get("step"))

    def progress(self, record: dict | None) -> None:
        """One more step on the bar; `record` (at log steps) refreshes the loss and speed shown."""
        if self._bar is not None:
            self._bar.update(1)
            if record is not None:
                self._bar.set_postfix(loss=f"{record['loss']:.3f}", tok_s=f"{record['tokens_per_s']:.0f}",
                                      refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._wandb is not None:
            self._wandb.finish()


def _start_wandb(run: RunDir, cfg: WandbConfig, mode: str, config: dict):
    import wandb

    id_file = run.path / "wandb_id.txt"
    run_id = id_file.read_text().strip() if id_file.exists() else uuid.uuid4().hex[:12]
    atomic_write_text(id_file, run_id + "\n")
    (run.path / "wandb").mkdir(parents=True, exist_ok=True)
    return wandb.init(project=cfg.project, entity=cfg.entity, tags=list(cfg.tags), mode=mode, dir=str(run.path),
                      id=run_id, resume="allow", name=run.path.parent.name, config=to_jsonable(config))


def truncate_metrics(path: Path, last_step: int) -> None:
    """Drop metric lines after `last_step` (those steps are recomputed after a resume). Unreadable lines (a kill
    mid-write, a disk error) are skipped and reported, never the good lines after them."""
    import json

    records, bad = read_jsonl_report(path)
    if bad:
        print(f"warning: {path}: dropped {describe_lines(bad)} that are not JSON records; kept the other "
              f"{len(records)}")
    records = [r for r in records if r.get("step", 0) <= last_step]
    atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
