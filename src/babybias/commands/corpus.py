"""`babybias corpus corpus=<original|cda|balanced|imbalanced|detox|random_drop> [corpus.*=...]`

Builds the corpus (or finds it in the cache under `paths.cache/corpus/<key>`), prints its path, key and a
summary, and records the run in runs/<name>/corpus/ (config.yaml, meta.json, corpus.json, DONE).
"""

from __future__ import annotations

import dataclasses

from babybias.configs.spine import CorpusCommandConfig
from babybias.corpus.build import CorpusArtifact, build_corpus
from babybias.runs import atomic_write_json, resolve_seed, run_dir_for


def summary_lines(art: CorpusArtifact) -> list[str]:
    m = art.manifest
    lines = [f"corpus: {art.path}", f"key:    {art.key}   mutation: {m['mutation']}{'   (dryrun)' if m['dryrun'] else ''}"]
    for split, s in m["splits"].items():
        ratio = s["female_sentence_ratio"]
        lines.append(f"{split:10s} {s['sentences']:>9,d} sentences {s['words']:>11,d} words   male/female terms "
                     f"{s['male_terms']:,d}/{s['female_terms']:,d}   female sentence ratio "
                     f"{'-' if ratio is None else f'{ratio:.3f}'}")
    for split, report in m["mutation_report"].items():
        if m["mutation"] != "original":
            changes = ", ".join(f"{k} {report[k]:,d}" for k in ("added", "replaced", "removed") if report.get(k))
            lines.append(f"{split:10s} {m['mutation']}: {changes or 'no change'} ({report['reason']})")
    return lines


def run(cfg: CorpusCommandConfig) -> CorpusArtifact:
    with run_dir_for(cfg.paths.runs, cfg.name, "corpus").lock("babybias corpus"):  # one writer of the run dir
        return _run(cfg)


def _run(cfg: CorpusCommandConfig) -> CorpusArtifact:
    seed = resolve_seed(cfg.seed)
    cfg = dataclasses.replace(cfg, seed=seed)
    art = build_corpus(cfg.corpus, cfg.data, cfg.paths.cache, seed, dryrun=cfg.dryrun)
    run_dir = run_dir_for(cfg.paths.runs, cfg.name, "corpus").create()
    run_dir.clear_done()
    run_dir.write_config(cfg)
    run_dir.write_meta(inputs={"corpus": art.key})
    atomic_write_json(run_dir / "corpus.json", {"path": str(art.path.resolve()), "key": art.key,
                                                "splits": art.manifest["splits"]})
    run_dir.mark_done({"corpus_key": art.key})
    print("\n".join(summary_lines(art)))
    print(f"run:    {run_dir.path}")
    return art
