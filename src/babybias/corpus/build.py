"""Build (or find in the cache) a corpus: sources -> clean/split/dedupe -> train/validation -> mutation -> files.

`build_corpus(corpus_cfg, data_cfg, cache_root, seed, dryrun)` returns a `CorpusArtifact` at
`<cache_root>/corpus/<key>/` holding `train.txt` and `validation.txt` (one sentence a line, UTF-8),
`manifest.json` and `DONE`. The folder is built under a temporary name and renamed into place, so a
half-built corpus never counts. The key (`babybias.runs.config_hash`) covers the format version, the
mutation and only the options it reads (detox: also the scorer's version), the source and word-list checksums,
`dryrun`, and the seed for seeded mutations (balanced, imbalanced, random_drop, and cda for race/religion, whose
ternary swap draws targets) only: the others do not depend on it.

Mutations change the train split only unless `corpus.mutate_validation=true`; the validation split is a
hash of each sentence's text, so it is the same for every corpus variant.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from babybias.corpus.clean import dedupe, keep_sentence, normalize, split_sentences, train_validation_split
from babybias.corpus.gender import GenderLexicon, Swapper, build_lexicon
from babybias.corpus.group_swap import GroupSwapper
from babybias.corpus.manifest import split_stats
from babybias.corpus.mutations import COPIES_AFTER_TEXT, MUTATIONS, MutationContext
from babybias.corpus.sources import Source, resolve_source
from babybias.corpus.toxicity import scorer_version
from babybias.data import store
from babybias.data.registry import files_of
from babybias.errors import BabybiasError, DataError, IntegrityError
from babybias.integrity import discard, read_json, sums_of, verify_sums
from babybias.runs import DONE, child_seed, config_hash, resolve_seed, to_jsonable

FORMAT_VERSION = 1
COMMON_OPTIONS = ("sources", "validation_fraction", "max_sentences", "min_words", "word_lists")


@dataclass
class CorpusArtifact:
    path: Path
    key: str
    manifest: dict

    @property
    def train_path(self) -> Path:
        return self.path / "train.txt"

    @property
    def validation_path(self) -> Path:
        return self.path / "validation.txt"

    def read(self, split: str = "train") -> list[str]:
        return (self.path / f"{split}.txt").read_text(encoding="utf-8").splitlines()


@dataclass
class _Plan:
    cfg: object
    sources: list[Source]
    lexicon: GenderLexicon
    word_lists: dict[str, str]
    key: str
    payload: dict
    reference_cfg: object | None


def _word_list_folders(cfg, data_cfg) -> tuple[dict[str, Path], dict[str, str]]:
    # verified whatever data.verify says: the key names their registered checksums (see resolve_source)
    folders = {name: store.require(name, data_cfg, verify=True) for name in cfg.word_lists}
    digests = {name: config_hash(files_of(name), length=64) for name in cfg.word_lists}
    return folders, digests


def _plan(cfg, data_cfg, seed: int, dryrun: bool) -> _Plan:
    """Resolve sources and word lists (checksums verified) and compute the cache key; reads no text."""
    mutation = MUTATIONS[cfg.mutation]
    sources = [resolve_source(name, data_cfg) for name in cfg.sources]
    folders, word_lists = _word_list_folders(cfg, data_cfg)
    payload = {
        "format": FORMAT_VERSION,
        "mutation": cfg.mutation,
        "options": {name: getattr(cfg, name) for name in COMMON_OPTIONS + mutation.options},
        "sources": [s.describe() for s in sources],
        "word_lists": word_lists,
        "dryrun": bool(dryrun),
    }
    if dryrun:
        payload["options"]["dryrun_sentences_per_source"] = cfg.dryrun_sentences_per_source
    if not cfg.deduplicate:  # added later: in the key only when not at its default, so cached corpora stay valid
        payload["options"]["deduplicate"] = False
    if cfg.mutation != "original":
        payload["options"]["mutate_validation"] = cfg.mutate_validation
    if cfg.mutation in ("cda", "balanced") and cfg.cda_mode == "two_sided":  # copies no longer beside their originals
        payload["options"]["copies"] = COPIES_AFTER_TEXT
    if cfg.mutation == "detox":  # another release of the scorer's model scores (and so removes) otherwise
        payload["options"]["scorer_version"] = scorer_version(cfg.scorer)
    if mutation.is_seeded(cfg):
        payload["seed"] = int(seed)
    if _group_bias_type(cfg):  # race/religion CDA reads the bias-bench triples, whatever word_lists says
        payload["attribute_words"] = config_hash(files_of("bias_attribute_words"), length=64)
    reference_cfg = None
    if cfg.mutation == "random_drop":
        reference_cfg = dataclasses.replace(cfg, mutation=cfg.random_drop_reference)
        payload["reference_key"] = _plan(reference_cfg, data_cfg, seed, dryrun).key
    return _Plan(cfg, sources, build_lexicon(folders), word_lists, config_hash(payload), payload, reference_cfg)


def _group_bias_type(cfg) -> str | None:
    """race | religion when the mutation is a ternary CDA, else None."""
    return cfg.cda_bias_type if cfg.mutation == "cda" and cfg.cda_bias_type != "gender" else None


def _group_swapper(cfg, data_cfg) -> GroupSwapper | None:
    bias_type = _group_bias_type(cfg)
    if bias_type is None:
        return None
    from babybias.debias.attribute_words import ATTRIBUTE_FILE, read_attribute_file

    path = store.require("bias_attribute_words", data_cfg, verify=True) / ATTRIBUTE_FILE
    return GroupSwapper(read_attribute_file(path, bias_type).tuples)


def corpus_key(corpus_cfg, data_cfg, seed: int, dryrun: bool = False) -> str:
    """The cache key `build_corpus` would use, without building anything."""
    return _plan(corpus_cfg, data_cfg, seed, dryrun).key


def load_artifact(path: str | os.PathLike, verify: bool = True) -> CorpusArtifact:
    """A built corpus folder (with DONE) -> CorpusArtifact; with `verify`, its split files must match the sha256
    sums in its manifest (IntegrityError otherwise, also for a folder built before sums were recorded)."""
    path = Path(path)
    if not (path / DONE).exists():
        raise BabybiasError(f"{path} is not a finished corpus (no {DONE})", fix="rebuild it with `babybias corpus`")
    manifest = read_json(path / "manifest.json", what=f"corpus cache {path}")
    if not isinstance(manifest, dict) or "key" not in manifest:
        raise IntegrityError(f"corpus cache {path} is corrupt: manifest.json has no key")
    if verify:
        if not isinstance(manifest.get("files"), dict):
            raise IntegrityError(f"corpus cache {path} has no checksums (built by an older babybias)")
        verify_sums(path, manifest["files"], "corpus cache")
    return CorpusArtifact(path, manifest["key"], manifest)


def read_sentences(sources: list[Source], cfg, dryrun: bool) -> tuple[list[str], dict]:
    """Cleaned, split, deduplicated sentences of all sources in order, and counts of what was dropped."""
    cap = cfg.dryrun_sentences_per_source if dryrun else None
    sentences: list[str] = []
    per_source = []
    for source in sources:
        kept: list[str] = []
        lines = short = 0
        for line in source.lines():  # ~1 s for the default 3.1M words: no progress bar
            lines += 1
            line = normalize(line)
            if not line:
                continue
            for sentence in [line] if source.presplit else split_sentences(line):
                if keep_sentence(sentence, cfg.min_words):
                    kept.append(sentence)
                else:
                    short += 1
            if cap is not None and len(kept) >= cap:
                break
        kept = kept[:cap] if cap is not None else kept
        check_decoding(source)
        per_source.append({"name": source.name, "lines_read": lines, "sentences": len(kept), "dropped_short": short,
                           "undecodable_lines": source.decoding.bad_lines})
        sentences.extend(kept)
    unique = dedupe(sentences) if cfg.deduplicate else sentences
    duplicates = len(sentences) - len(unique)
    truncated = 0
    if cfg.max_sentences is not None and len(unique) > cfg.max_sentences:
        truncated = len(unique) - cfg.max_sentences
        unique = unique[: cfg.max_sentences]
    report = {"per_source": per_source, "dropped_duplicates": duplicates,
              "dropped_by_max_sentences": truncated, "sentences": len(unique),
              "rules": f"NFKC + ASCII quotes, whitespace collapsed, >= {cfg.min_words} words with a lower-case "
                       "letter, " + ("exact duplicates removed (first kept)" if cfg.deduplicate else "duplicates kept")}
    return unique, report


MIN_PRINTABLE_RATIO = 0.8
"""A source whose decoded characters are less printable than this is refused (random bytes give ~0.4)."""


def check_decoding(source: Source) -> None:
    """Refuse a source that is mostly not text; say how many of its lines were not valid UTF-8."""
    stats = source.decoding
    if stats.chars and stats.printable_ratio < MIN_PRINTABLE_RATIO:
        raise DataError(f"corpus source {source.name} is mostly not text: only {stats.printable_ratio:.0%} of its "
                        f"characters are printable ({stats.bad_lines} of {stats.lines} lines are not valid UTF-8)",
                        fix="pass UTF-8 text files (one sentence or paragraph a line) in corpus.sources")
    if stats.bad_lines and source.kind != "registered":
        print(f"warning: corpus source {source.name}: {stats.bad_lines} of {stats.lines} lines are not valid UTF-8; "
              "their undecodable bytes were replaced with U+FFFD (counted in the manifest as undecodable_lines)")


def _reference_removed(plan: _Plan, data_cfg, cache_root, seed, dryrun, progress) -> tuple[dict, str]:
    reference = build_corpus(plan.reference_cfg, data_cfg, cache_root, seed, dryrun, progress=progress)
    report = reference.manifest["mutation_report"]
    return {split: report.get(split, {}).get("removed", 0) for split in ("train", "validation")}, reference.key


def build_corpus(corpus_cfg, data_cfg, cache_root: str | os.PathLike, seed: int, dryrun: bool = False,
                 progress: bool = True) -> CorpusArtifact:
    """The corpus for this config, from the cache when built before (see module doc).

    A null seed draws one (recorded in the manifest); it only matters for seeded mutations.
    """
    started = time.time()
    seed = resolve_seed(seed)
    plan = _plan(corpus_cfg, data_cfg, seed, dryrun)
    final = Path(cache_root) / "corpus" / plan.key
    if (final / DONE).exists():
        try:
            return load_artifact(final)
        except IntegrityError as err:  # never train on it: build it again under the same key
            print(f"warning: {err.message}; rebuilding it")
            discard(final)
    cfg, timings = corpus_cfg, {}

    tick = time.time()
    sentences, cleaning = read_sentences(plan.sources, cfg, dryrun)
    if not sentences:
        raise BabybiasError(f"the corpus is empty after cleaning ({', '.join(cfg.sources)}: no line with "
                            f">= {cfg.min_words} words)", fix="check corpus.sources or lower corpus.min_words")
    splits = dict(zip(("train", "validation"), train_validation_split(sentences, cfg.validation_fraction)))
    timings["read_clean_split"] = time.time() - tick

    tick = time.time()
    mutation = MUTATIONS[cfg.mutation]
    swapper = Swapper(plan.lexicon, cfg.ambiguous_her)
    removed_by_reference, reference_key = ({}, None)
    if plan.reference_cfg is not None:
        removed_by_reference, reference_key = _reference_removed(plan, data_cfg, cache_root, seed, dryrun, progress)
    reports, group_swapper = {}, _group_swapper(cfg, data_cfg)
    for split in ("train", "validation") if cfg.mutate_validation else ("train",):
        ctx = MutationContext(cfg, swapper, child_seed(seed, f"corpus/{cfg.mutation}/{split}"), progress,
                              removed_by_reference.get(split), {"reference_key": reference_key}, group_swapper)
        splits[split], reports[split] = mutation.apply(splits[split], ctx)
        if reports[split].get("warning"):
            print(f"warning: {split} split: {reports[split]['warning']}")
    timings["mutation"] = time.time() - tick
    if not splits["train"]:
        raise BabybiasError(f"the corpus is empty after `{cfg.mutation}` ({reports['train'].get('reason')})",
                            fix="loosen the mutation's option (e.g. raise corpus.threshold) or add sources")

    tick = time.time()
    stats = {split: split_stats(lines, swapper) for split, lines in splits.items()}
    timings["stats"] = time.time() - tick
    timings["total"] = time.time() - started
    manifest = {
        "key": plan.key, "format": FORMAT_VERSION, "mutation": cfg.mutation, "dryrun": bool(dryrun),
        "seed": int(seed), "seed_in_key": mutation.is_seeded(cfg), "config": to_jsonable(cfg),
        "sources": [s.describe() for s in plan.sources], "word_lists": plan.word_lists,
        "lexicon": {"male_words": len(plan.lexicon.male), "female_words": len(plan.lexicon.female),
                    "ambiguous_her": cfg.ambiguous_her},
        "cleaning": cleaning, "splits": stats, "mutation_report": reports,
        "toxicity": {split: r["scores"] for split, r in reports.items() if "scores" in r} or None,
        "key_payload": plan.payload, "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return _write(final, splits, manifest)


def _write(final: Path, splits: dict[str, list[str]], manifest: dict) -> CorpusArtifact:
    """Write into a temporary sibling folder, then rename it into place (the loser of a race keeps the winner's)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}-{time.time_ns()}")
    tmp.mkdir()
    try:
        for split, lines in splits.items():
            with open(tmp / f"{split}.txt", "w", encoding="utf-8") as fh:
                fh.writelines(line + "\n" for line in lines)
        manifest = {**manifest, "files": sums_of(tmp, [f"{split}.txt" for split in splits])}
        (tmp / "manifest.json").write_text(json.dumps(to_jsonable(manifest), indent=2, sort_keys=True) + "\n",
                                           encoding="utf-8")
        (tmp / DONE).write_text(time.strftime("%Y-%m-%dT%H:%M:%S%z") + "\n")
        if final.exists() and not (final / DONE).exists():
            discard(final)  # debris from an interrupted older layout
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / DONE).exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return load_artifact(final)
