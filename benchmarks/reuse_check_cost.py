"""What the evaluation reuse check costs: hashing a checkpoint's weights (once per checkpoint and process) and
comparing a stored result's key, at the sizes of the project's models.

    python benchmarks/reuse_check_cost.py [--sizes-mb 90 440] [--results 5]

For each size a weights file of random bytes is written to a temporary folder (BabyLM ~90 MB, BERT-base
~440 MB in fp32 safetensors); the first `weights_sha256` reads and hashes it, the second is answered from the
in-process memo; then `stale_reason` is timed over `--results` stored result files (one per benchmark), as
`babybias evaluate` does for every checkpoint before deciding to skip.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    from babybias.results import stale_reason, weights_sha256

    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[90, 440])
    parser.add_argument("--results", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes_mb:
            folder = Path(tmp) / f"ckpt{size}"
            folder.mkdir()
            with open(folder / "model.safetensors", "wb") as fh:
                for _ in range(size):
                    fh.write(os.urandom(1 << 20))
            start = time.perf_counter()
            digest = weights_sha256(folder)
            cold = time.perf_counter() - start
            start = time.perf_counter()
            weights_sha256(folder)
            warm = time.perf_counter() - start
            key = {"options": {"scoring": "shared"}, "precision": "fp32", "weights_sha256": digest,
                   "code_version": {"definition": 1, "babybias": "0"}, "inputs": {}, "bootstrap": None}
            paths = []
            for k in range(args.results):
                path = folder / f"result{k}.json"
                path.write_text(json.dumps({"options": key["options"], "scoring": {"precision": "fp32"},
                                            "weights_sha256": digest, "code_version": key["code_version"],
                                            "inputs": {}, "bootstrap": None, "summary": {"x": 1.0}}))
                paths.append(path)
            start = time.perf_counter()
            assert all(stale_reason(path, key) is None for path in paths)
            compare = time.perf_counter() - start
            print(f"{size:5d} MB weights: sha256 {cold:6.3f} s ({size / cold:6.0f} MB/s), memo {warm * 1e6:6.1f} us; "
                  f"{args.results} stored results compared in {compare * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
