"""Typed config schemas, registered in Hydra's ConfigStore.

Each command has a primary schema `<command>_schema` (used as the first default of conf/<command>.yaml);
config groups (corpus/, model/, train/, impl/, ...) are YAML files merged into typed fields, so a
wrong type or unknown key in an override fails at composition time.
"""

from __future__ import annotations

import importlib

# modules that define schemas; each has `register(cs)`
SCHEMA_MODULES = [
    "babybias.configs.spine",
    "babybias.configs.evaluate",
    "babybias.configs.unlearn",
    "babybias.configs.debias",
    "babybias.configs.study",
]

_registered = False


def register_all() -> None:
    global _registered
    if _registered:
        return
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    for name in SCHEMA_MODULES:
        importlib.import_module(name).register(cs)
    _registered = True
