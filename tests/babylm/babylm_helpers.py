"""Synthetic BabyLM 2024 files in the real layout (<name>/train_100M/*.train, <name>/dev/*.dev), written here.

A uniquely named helper module (not `conftest`). The lines imitate each source's format (CHILDES speaker tags,
Switchboard speaker labels, hard-wrapped Gutenberg paragraphs, Wikipedia headings and reference marks, subtitle
dashes and repeats), with gendered sentences so that every corpus mutation has something to act on.
"""

from __future__ import annotations

import random
from pathlib import Path

SOURCES = ("bnc_spoken", "childes", "gutenberg", "open_subtitles", "simple_wiki", "switchboard")
PEOPLE = ["he", "she", "the man", "the woman", "my father", "my mother", "the boy", "the girl", "his brother",
          "her sister", "the doctor", "the teacher"]
ACTS = ["is going home now", "wants some more juice", "reads a long book", "was at work all day",
        "likes the red ball", "cannot find the keys", "made a cake for us", "is very tired tonight"]


def _sentence(rng: random.Random) -> str:
    return f"{rng.choice(PEOPLE)} {rng.choice(ACTS)}"


def source_text(source: str, n: int, seed: int) -> str:
    rng = random.Random(f"{source}/{seed}")
    lines: list[str] = []
    for i in range(n):
        s = _sentence(rng)
        if source == "childes":
            lines.append(f"*{rng.choice(['CHI', 'MOT', 'FAT'])}:\t{s} ?")
        elif source == "bnc_spoken":
            lines += [f"{s} number {i} .", "."] if i % 5 == 0 else [f"{s} number {i} ."]
        elif source == "switchboard":
            lines.append(f"{rng.choice('AB')}:\t{s}, number {i}.")
        elif source == "open_subtitles":
            line = f"- {s[0].upper()}{s[1:]}, number {i}!"
            lines += [line, line] if i % 4 == 0 else [line]  # subtitle repeats
        elif source == "simple_wiki":
            if i % 6 == 0:
                lines += ["", f"= = = Topic {i} = = =", ""]
            lines.append(f"{s[0].upper()}{s[1:]} in story {i}.[{i % 9 + 1}] Salt &amp; pepper are here.")
            if i % 7 == 0:
                lines.append(f"Villeneuve {i} is a commune in France.")
        else:  # gutenberg: hard-wrapped paragraphs of three lines
            lines += [f"{s[0].upper()}{s[1:]} in chapter {i},", f"and {_sentence(rng)},",
                      f"while {_sentence(rng)}.", ""]
    return "\n".join(lines) + "\n"


def write_babylm(folder: Path, train_dir: str = "train_100M", n: int = 60) -> Path:
    """<folder>/<train_dir>/<source>.train and <folder>/dev/<source>.dev for the six sources."""
    for source in SOURCES:
        for sub, suffix, seed in ((train_dir, "train", 0), ("dev", "dev", 1)):
            path = folder / sub / f"{source}.{suffix}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(source_text(source, n, seed), encoding="utf-8")
    return folder
