"""Text augmentation for fine-tuning: EDA-style word edits (Wei & Zou 2019).

Each augmented copy of a text gets one of four edits, chosen at random, touching about
`rate` of its words: swap two words, delete words, insert words drawn from the
training corpus, or replace words by a WordNet synonym. Synonyms need WordNet's data
files, which Debian's `wordnet-base` package installs in /usr/share/wordnet (or point
SMALLFIT_WORDNET at a folder holding data.noun etc.); without them the other three
edits are used.

Written by hand: the EDA reference code is a script, not a library, and NLTK's WordNet
reader needs files (lexnames) that Debian's package does not ship, while the synonyms
we need are one line per synset in its data files.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import numpy as np
import torch
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

TEXT_PRESETS = {"none": 0.0, "light": 0.1, "medium": 0.2, "strong": 0.3}
WORDNET_FOLDERS = ("/usr/share/wordnet",)
_PUNCTUATION = "\"'.,;:!?()[]{}"


@functools.cache
def wordnet_synonyms() -> dict[str, tuple[str, ...]]:
    """Single-word synonyms by lower-case word, from WordNet's data files; {} if absent."""
    folders = [os.environ.get("SMALLFIT_WORDNET"), *WORDNET_FOLDERS]
    folder = next((Path(f) for f in folders if f and (Path(f) / "data.noun").exists()), None)
    if folder is None:
        return {}
    synonyms: dict[str, set[str]] = {}
    for part in ("noun", "verb", "adj", "adv"):
        with open(folder / f"data.{part}", encoding="latin-1") as lines:
            for line in lines:
                if line.startswith("  "):  # the licence header
                    continue
                fields = line.split(" ")
                count = int(fields[3], 16)  # offset, file, type, word count (hex), words...
                words = {re.sub(r"\(.*\)$", "", fields[4 + 2 * i]).lower() for i in range(count)}
                words = {w for w in words if "_" not in w}  # one word replaces one word
                for word in words:
                    synonyms.setdefault(word, set()).update(words - {word})
    return {word: tuple(sorted(others)) for word, others in synonyms.items() if others}


class EasyDataAugmentation:
    """A text -> edited text callable; `corpus` supplies the words that insertion draws.

    Randomness comes from torch's global generator, like the image transforms, so a
    strategy that seeds torch before making its copies gets the same copies every time.
    """

    def __init__(self, preset: str, corpus: list[str]):
        if preset not in TEXT_PRESETS:
            raise ValueError(f"Unknown augmentation {preset!r}; choose from {list(TEXT_PRESETS)}.")
        self.rate = TEXT_PRESETS[preset]
        words = {_bare(w) for text in corpus for w in text.split()}
        self.vocabulary = sorted(w for w in words if w and w not in ENGLISH_STOP_WORDS)
        self.synonyms = wordnet_synonyms()
        self.edits = [self._swap, self._delete, self._insert]
        if self.synonyms:
            self.edits.append(self._replace)

    def __call__(self, text: str) -> str:
        words = text.split()
        if len(words) < 2 or self.rate == 0:
            return text
        rng = np.random.default_rng(int(torch.randint(2**31, (1,))))
        count = max(1, round(self.rate * len(words)))
        edit = self.edits[rng.integers(len(self.edits))]
        return " ".join(edit(words, count, rng))

    def _swap(self, words: list[str], count: int, rng) -> list[str]:
        words = list(words)
        for _ in range(count):
            i, j = rng.choice(len(words), 2, replace=False)
            words[i], words[j] = words[j], words[i]
        return words

    def _delete(self, words: list[str], count: int, rng) -> list[str]:
        dropped = set(rng.choice(len(words), min(count, len(words) - 1), replace=False).tolist())
        return [w for i, w in enumerate(words) if i not in dropped]

    def _insert(self, words: list[str], count: int, rng) -> list[str]:
        words = list(words)
        for _ in range(count if self.vocabulary else 0):
            words.insert(int(rng.integers(len(words) + 1)), str(rng.choice(self.vocabulary)))
        return words

    def _replace(self, words: list[str], count: int, rng) -> list[str]:
        words = list(words)
        candidates = [
            i
            for i, w in enumerate(words)
            if _bare(w) in self.synonyms and _bare(w) not in ENGLISH_STOP_WORDS
        ]
        for i in rng.permutation(candidates)[:count]:
            word = words[i]
            synonym = str(rng.choice(self.synonyms[_bare(word)]))
            if word.strip(_PUNCTUATION)[:1].isupper():
                synonym = synonym.capitalize()
            core = word.strip(_PUNCTUATION)
            words[i] = word.replace(core, synonym, 1) if core else word
        return words


def _bare(word: str) -> str:
    return word.strip(_PUNCTUATION).lower()
