"""`babybias <command> [hydra overrides...]`: one console script, one Hydra primary config per command.

Commands dispatch through a plain dict (module path + function), so `babybias --help` and config errors
answer without importing torch or transformers. Each command function receives the composed config
converted once to typed dataclasses and nothing global.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

# command -> (module, summary, takes_hydra_config)
COMMANDS: dict[str, tuple[str, str, bool]] = {
    "data": ("babybias.commands.data", "list | prepare | verify the data sets under the data root", True),
    "corpus": ("babybias.commands.corpus", "build a (mutated) pretraining corpus with its manifest", True),
    "tokenizer": ("babybias.commands.tokenizer", "train a WordPiece tokenizer on a corpus", True),
    "pretrain": ("babybias.commands.pretrain", "pretrain a masked LM (builds corpus and tokenizer if needed)", True),
    "evaluate": ("babybias.commands.evaluate", "intrinsic bias + language-ability benchmarks on checkpoints", True),
    "compare": ("babybias.commands.compare",
                "correlate two runs' learning dynamics; paired test of their final models on the same items", True),
    "debias": ("babybias.commands.debias", "fit a post-model debiasing method (INLP, SentenceDebias, ...)", True),
    "unlearn": ("babybias.commands.unlearn", "SISA training, deletion rounds and FairSISA post-processing", True),
    "study": ("babybias.commands.study", "run a whole study preset (experiment=...)", True),
    "report": ("babybias.commands.report", "gather runs into tables, plots, HTML and markdown", True),
    "status": ("babybias.commands.status", "state of a detached sweep; --resubmit failed runs", False),
    "sync": ("babybias.commands.sync", "upload offline wandb runs of a sweep", False),
    "rerun": ("babybias.commands.rerun", "rerun a run from its saved config.yaml (overrides allowed, e.g. name=again)", False),
}

# commands whose first bare word is an action, e.g. `babybias data prepare` -> action=prepare
ACTION_COMMANDS = {"data", "unlearn", "debias"}

# `model=` selects the model/ config group in pretrain; in commands that *take* a trained model it names one,
# so it is rewritten to that command's field (Hydra would otherwise look for conf/model/<value>.yaml).
KEY_ALIASES: dict[str, dict[str, str]] = {
    "unlearn": {"model": "encoder"},
    "evaluate": {"model": "run"},
}
# In every command: `launch.wait=false` (submit a sweep and return) is the launcher's own `hydra.launcher.wait`.
COMMON_ALIASES: dict[str, str] = {"launch.wait": "hydra.launcher.wait"}


def config_dir() -> Path:
    """The Hydra config folder: $BABYBIAS_CONFIG_DIR, the wheel's babybias/conf, or the repository's conf/."""
    env = os.environ.get("BABYBIAS_CONFIG_DIR")
    if env:
        return Path(env).resolve()
    packaged = Path(__file__).resolve().parent / "conf"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "conf"


def _print_help() -> None:
    width = max(len(c) for c in COMMANDS)
    lines = [
        "usage: babybias <command> [hydra overrides...]",
        "",
        "commands:",
        *(f"  {name.ljust(width)}  {summary}" for name, (_, summary, _) in COMMANDS.items()),
        "",
        "examples:",
        "  babybias data prepare datasets=[crows_pairs]",
        "  babybias pretrain corpus=balanced model=babylm",
        "  babybias pretrain model=bert_base impl=gpu_bf16",
        "  babybias pretrain -m corpus=original,balanced seed=0,1,2 hydra/launcher=slurm",
        "  babybias unlearn shards=5",
        "",
        "`babybias <command> --help` shows that command's config groups; `--cfg job` prints its config.",
    ]
    print("\n".join(lines))


def _fail(message: str) -> None:
    print(f"babybias: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _to_overrides(command: str, args: list[str]) -> list[str]:
    """Turn `babybias data prepare ...` into `action=prepare ...` for commands that take an action word."""
    if command in ACTION_COMMANDS and args and "=" not in args[0] and not args[0].startswith("-"):
        args = [f"action={args[0]}", *args[1:]]
    aliases = {**COMMON_ALIASES, **KEY_ALIASES.get(command, {})}
    out = []
    for arg in args:
        key, sep, value = arg.partition("=")
        out.append(f"{aliases[key]}={value}" if sep and key in aliases else arg)
    return out


def run_hydra_command(command: str, args: list[str], config_path: str | None = None,
                      config_name: str | None = None) -> None:
    """Compose conf/<command>.yaml (or `config_path/config_name`) with Hydra and call `<module>.run(typed_config)`."""
    import hydra
    from omegaconf import OmegaConf

    from babybias.configs import register_all
    from babybias.errors import BabybiasError

    register_all()
    module_name = COMMANDS[command][0]

    def task(cfg) -> None:
        typed = None
        try:
            typed = OmegaConf.to_object(cfg)
            from babybias.hardware import configure_threads_for

            configure_threads_for(typed)  # threads before torch does any work
            module = importlib.import_module(module_name)
            module.run(typed)
        except BabybiasError as err:
            print(f"babybias {command}: error: {err}", file=sys.stderr)
            raise SystemExit(1) from None
        except OSError as err:  # a full disk, a read-only runs/cache root, a file that vanished: one line
            from babybias.errors import os_error_message

            print(f"babybias {command}: error: {os_error_message(err, _roots(typed))}", file=sys.stderr)
            raise SystemExit(1) from None

    task.__module__ = module_name
    task.__name__ = command
    sys.argv = [f"babybias {command}", *_to_overrides(command, args)]
    hydra.main(version_base="1.3", config_path=config_path or str(config_dir()), config_name=config_name or command)(task)()


def _roots(typed) -> dict[str, str]:
    """The settings that name where a command writes and reads (for the fix of an OSError)."""
    roots = {}
    for key in ("paths.runs", "paths.cache", "data.root"):
        section, _, field = key.partition(".")
        value = getattr(getattr(typed, section, None), field, None)
        if value:
            roots[key] = str(value)
    return roots


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        try:
            _print_help()
        except BrokenPipeError:  # `babybias --help | head`
            sys.stderr.close()
        return
    if argv[0] in ("-V", "--version"):
        from babybias import __version__

        print(f"babybias {__version__}")
        return
    command, args = argv[0], argv[1:]
    if command not in COMMANDS:
        _fail(f"unknown command {command!r}; run `babybias --help` for the list")
    module_name, _, uses_hydra = COMMANDS[command]
    if uses_hydra:
        run_hydra_command(command, args)
        return
    from babybias.errors import BabybiasError

    try:
        importlib.import_module(module_name).main(args)
    except BabybiasError as err:
        print(f"babybias {command}: error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    except OSError as err:
        from babybias.errors import os_error_message

        print(f"babybias {command}: error: {os_error_message(err)}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
