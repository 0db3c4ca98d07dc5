"""EDA-style text augmentation: each edit does what it says, repeatably."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import torch

from smallfit import backbones
from smallfit.augment.text import EasyDataAugmentation, wordnet_synonyms

CORPUS = ["The striker scored twice in the match.", "Bake the bread at high heat."]
TEXT = "the quick brown fox jumps over the lazy dog near the river bank today"


def test_each_edit_changes_about_rate_of_the_words():
    eda = EasyDataAugmentation("medium", CORPUS)  # 20%: 3 of 14 words
    words = TEXT.split()
    rng = np.random.default_rng(0)
    swapped = eda._swap(words, 3, rng)
    assert collections.Counter(swapped) == collections.Counter(words) and swapped != words
    assert len(eda._delete(words, 3, rng)) == len(words) - 3
    inserted = eda._insert(words, 3, rng)
    added = collections.Counter(inserted) - collections.Counter(words)
    assert sum(added.values()) == 3 and set(added) <= set(eda.vocabulary)
    assert "the" not in eda.vocabulary and "striker" in eda.vocabulary  # no stop words


def test_augmentation_is_repeatable_under_a_torch_seed_and_varies_without():
    eda = EasyDataAugmentation("light", CORPUS)
    torch.manual_seed(5)
    first = [eda(TEXT) for _ in range(10)]
    torch.manual_seed(5)
    assert [eda(TEXT) for _ in range(10)] == first
    assert len(set(first)) > 3 and all(text != TEXT for text in first)
    assert eda("word") == "word"  # nothing to edit in one word


@pytest.mark.skipif(not wordnet_synonyms(), reason="WordNet data (Debian wordnet-base) absent")
def test_synonym_replacement_uses_wordnet_and_keeps_capitals_and_punctuation():
    assert "glad" in wordnet_synonyms()["happy"]
    eda = EasyDataAugmentation("light", CORPUS)
    rng = np.random.default_rng(1)
    replaced = eda._replace(["Happy", "people."], 2, rng)
    assert replaced[0][0].isupper() and replaced[0].lower() in wordnet_synonyms()["happy"]
    assert replaced[1].endswith(".") and replaced[1][:-1] in wordnet_synonyms()["people"]


def test_text_encoder_feeds_augmented_texts_to_the_body_only_when_training():
    encoder = backbones.create("minilm")
    assert encoder.transform(train=False, augment="strong", corpus=CORPUS) is None
    assert encoder.transform(train=True, augment="none", corpus=CORPUS) is None
    augmented = encoder.transform(train=True, augment="strong", corpus=CORPUS)
    torch.manual_seed(0)
    plain, edited = encoder.body_input([TEXT] * 4), encoder.body_input([TEXT] * 4, augmented)
    assert not torch.equal(plain, edited[:, : plain.shape[1]]) or plain.shape != edited.shape
