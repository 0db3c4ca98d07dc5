"""The candidates a fit compares: which strategies, with which parameters, on which
encoder, and how each is built for a seed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smallfit import backbones, modalities, strategies
from smallfit.errors import SmallfitError
from smallfit.evaluate import Splits, make_splits
from smallfit.strategies.base import encoder_for, refusal, works_on

# What the fixed comparison holds: "quick", the modality's cheap candidates (seconds
# each); "full", also the strategies that train the encoder (minutes each).
CANDIDATE_SETS = ("quick", "full")


@dataclass
class Candidate:
    """A strategy with its parameters, and the encoder it runs on."""

    strategy: str
    params: dict[str, Any] = field(default_factory=dict)
    backbone: str | None = None
    title: str | None = None  # shown instead of the strategy and parameters

    @property
    def label(self) -> str:
        if self.title:
            return self.title
        shown = ",".join(f"{k}={v}" for k, v in self.params.items() if k != "descriptions")
        return f"{self.strategy}[{shown}]" if shown else self.strategy


def self_trainable(candidate: Candidate, modality: str) -> bool:
    """Whether self-training can wrap the candidate: its strategy learns from frozen
    embeddings, or from the items' own features when those are dense vectors computed
    by no encoder (a table's columns), which the label-spreading labeler then reads."""
    cls = type(strategies.create(candidate.strategy))
    if cls.embedding_only:
        return True
    own = modalities.get(modality).raw_features()
    return cls.reads_items and candidate.backbone is None and own is not None and own.dense


def semi_supervised(candidates: list[Candidate], modality: str) -> list[Candidate]:
    """The candidates, each followed by its semi-supervised variant when it has one:
    self-training for the frozen-embedding strategies and those on dense own features
    (see self_trainable), FixMatch for finetune."""
    result = []
    for candidate in candidates:
        result.append(candidate)
        if self_trainable(candidate, modality):
            params = {"base": candidate.strategy, "base_params": candidate.params}
            title = f"{candidate.label}+self-training"
            result.append(Candidate("self-training", params, candidate.backbone, title))
        elif candidate.strategy == "finetune":
            params = {**candidate.params, "consistency": "fixmatch"}
            result.append(Candidate("finetune", params, candidate.backbone))
    return result


def comparison_splits(
    y: np.ndarray,
    names,
    folds: int | None,
    loocv: bool,
    seed: int,
    classes: list | None = None,
    groups: np.ndarray | None = None,
) -> Splits:
    """The splits every candidate (of strategies `names`) is scored on: repeated stratified
    k-fold (group folds with `groups`), with one repeat only when some candidate trains a
    network body (minutes a fold)."""
    return make_splits(
        y,
        folds=folds,
        repeats=1 if any(map(trains_body, names)) else None,
        loocv=loocv,
        random_state=seed,
        classes=classes,
        groups=groups,
    )


def trains_body(name: str) -> bool:
    return type(strategies.create(name)).trains_body


def check_candidates(candidates: str) -> str:
    if candidates not in CANDIDATE_SETS:
        raise SmallfitError(
            f"Unknown candidates {candidates!r}; choose from {', '.join(CANDIDATE_SETS)}."
        )
    return candidates


def candidates_for(
    modality: str,
    backbone: str | None,
    strategy: str | None,
    strategy_params: dict | None = None,
    full: bool = False,
) -> list[Candidate]:
    """The candidates to compare: the one the user asked for, or the modality's default
    comparison (each cheap, seconds at 100 items, and each a different view of the data,
    so that their combination can beat any one), with the strategies that train the
    encoder when `full`: they cost minutes, so they run only when asked for, and last,
    after the cheap candidates have their scores."""
    kind = modalities.get(modality)
    # the default comparison runs each embedding strategy on every installed encoder the
    # modality names (sounds: a speech and a sound-event encoder), else on the one given
    encoders = [backbone]  # None: the encoder the strategy runs on (encoder_for)
    if not backbone and not strategy:
        encoders = [b for b in kind.candidate_backbones if backbones.available(b)] or encoders
    backbone = backbone or kind.default_backbone
    if backbone is not None and backbones.modality_of(backbone) != modality:
        raise SmallfitError(
            f"Backbone {backbone} is for {backbones.modality_of(backbone)}s but the data holds "
            f"{modality}s."
        )
    chosen = [(strategy, {})] if strategy else list(kind.candidates)
    if full and not strategy:
        chosen += kind.full_candidates
    result = []
    for name, params, *own in chosen:
        cls = type(strategies.create(name))
        params = {**params, **(strategy_params or {}).get(name, {})}
        # an entry's own encoder serves unless the user named one (or it is not installed)
        pinned = encoders == [None] and own and backbones.available(own[0])
        # over several encoders, a strategy runs on those that offer what it needs
        here = own if pinned else encoders
        usable = [e for e in here if works_on(cls, modality, e)] if cls.uses_encoder else []
        if cls.uses_encoder and not usable:
            raise SmallfitError(refusal(cls, modality, here[0]))
        for encoder in usable if cls.uses_encoder else [backbone]:
            candidate = Candidate(name, params, encoder_for(cls, modality, encoder))
            if cls.uses_encoder and (pinned or len(encoders) > 1):
                candidate.title = f"{candidate.label}@{encoder}"
            result.append(candidate)
    return result


def build(candidate: Candidate, seed: int):
    """The candidate's strategy (seeded with `seed` unless its parameters give a
    random_state) and its encoder."""
    strategy = strategies.create(candidate.strategy, **candidate.params)
    if "random_state" in strategy.get_params() and "random_state" not in candidate.params:
        strategy.set_params(random_state=seed)
    encoder = backbones.create(candidate.backbone) if candidate.backbone else None
    return strategy, encoder
