"""`babybias data [list|prepare|verify] datasets=[...]`"""

from __future__ import annotations

from babybias.configs.spine import DataCommandConfig
from babybias.data import store
from babybias.data.registry import DATASETS
from babybias.errors import ConfigError


def run(cfg: DataCommandConfig) -> None:
    # no names: every data set but the large ones prepared on request (the BabyLM corpora); `list` shows all
    names = list(cfg.datasets) or [n for n, spec in DATASETS.items() if cfg.action == "list" or not spec.on_request]
    if cfg.action == "list":
        _list(names, cfg)
    elif cfg.action == "prepare":
        for name in names:
            status = store.prepare(name, cfg.data)
            print(f"{name:30s} ok  {status.present} files verified")
        print(f"data root: {store.data_root(cfg.data).resolve()}")
    elif cfg.action == "verify":
        bad = 0
        for name in names:
            status = store.check(name, store.data_root(cfg.data))
            bad += not status.ok
            print(f"{name:30s} {'ok' if status.ok else 'BAD: ' + '; '.join(status.bad[:3])}")
        if bad:
            raise SystemExit(1)
    else:
        raise ConfigError(f"unknown data action {cfg.action!r}", fix="use `babybias data list|prepare|verify`")


def _list(names: list[str], cfg: DataCommandConfig) -> None:
    root = store.data_root(cfg.data)
    print(f"data root: {root.resolve()}   mirror: {cfg.data.mirror or '(none: public downloads)'}")
    print(f"{'data set':30s} {'state':12s} {'files':>11s}  license / source")
    for name in names:
        spec = DATASETS[name]
        status = store.check(name, root)
        state = "verified" if status.ok else ("absent" if status.present == 0 else "BAD")
        state += "" if spec.pinned or status.present == 0 else " (lock)"
        print(f"{name:30s} {state:12s} {status.present:>5d}/{status.expected:<5d}  {spec.license} / {spec.source}")
