"""`babybias tokenizer [corpus=...] [tokenizer.*=...] name=<run>`: train (or find cached) a WordPiece tokenizer.

Writes `runs/<name>/tokenizer/` with config.yaml, meta.json, the tokenizer files and DONE; the tokenizer
itself is cached under `<paths.cache>/tokenizer/<key>/` and reused by `babybias pretrain`.
"""

from __future__ import annotations

from babybias.configs.spine import TokenizerCommandConfig
from babybias.runs import resolve_seed, run_dir_for


def run(cfg: TokenizerCommandConfig):
    with run_dir_for(cfg.paths.runs, cfg.name, "tokenizer").lock("babybias tokenizer"):  # one writer of the run dir
        return _run(cfg)


def _run(cfg: TokenizerCommandConfig):
    from babybias.corpus.build import build_corpus
    from babybias.tokenizer import build_tokenizer, copy_tokenizer_files, load_tokenizer

    cfg.seed = resolve_seed(cfg.seed)
    run_dir = run_dir_for(cfg.paths.runs, cfg.name, "tokenizer").create()
    run_dir.clear_done()
    run_dir.write_config(cfg)
    corpus = build_corpus(cfg.corpus, cfg.data, cfg.paths.cache, cfg.seed, dryrun=cfg.dryrun)
    tok_dir = build_tokenizer(cfg.tokenizer, corpus, cfg.paths.cache)
    copy_tokenizer_files(tok_dir, run_dir.path)
    run_dir.write_meta(inputs={"corpus_key": corpus.key, "tokenizer_key": tok_dir.name})
    vocab = len(load_tokenizer(tok_dir))
    run_dir.mark_done({"vocab_size": vocab, "tokenizer_cache": str(tok_dir)})
    print(f"tokenizer: {run_dir.path.resolve()}  (vocab {vocab}, cached at {tok_dir})")
    return tok_dir
