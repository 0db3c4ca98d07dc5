"""What a search may propose: the presets' strategies, each on its encoders, with its
main hyper-parameters, and the candidate a proposal stands for."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from smallfit import backbones, modalities, strategies
from smallfit.errors import SmallfitError
from smallfit.fitting.candidates import Candidate
from smallfit.strategies.base import encoder_for, works_on

PRESETS = {
    "fast": ("probe", "prototype", "zeroshot", "classic"),  # frozen encoders: seconds
    "balanced": ("probe", "prototype", "zeroshot", "classic", "finetune"),
    "best": (
        "probe",
        "prototype",
        "zeroshot",
        "classic",
        "finetune",
        "adapter",
        "lora",
        "scratch",
    ),
}
DEFAULT_PRESET = "balanced"


def default_budget(n_items: int) -> float:
    """The search's time budget when none is given: 2 minutes plus 1 second per item,
    at most 10 minutes."""
    return float(min(600, 120 + n_items))


def check_preset(preset: str) -> str:
    if preset not in PRESETS:
        raise SmallfitError(f"Unknown preset {preset!r}; choose from {', '.join(PRESETS)}.")
    return preset


@dataclass
class Space:
    """What a search may propose: per strategy, its encoders and its hyper-parameters."""

    modality: str
    encoders: dict[str, list[str | None]]
    params: dict[str, dict[str, list]]
    fixed: dict[str, dict]  # the user's own settings per strategy (e.g. --unfreeze)

    def size_of(self, name: str) -> int:
        """How many distinct configurations strategy `name` has."""
        return len(self.encoders[name]) * math.prod(len(c) for c in self.params[name].values())

    @property
    def size(self) -> int:
        return sum(self.size_of(name) for name in self.params)


def make_space(
    modality: str, preset: str, backbone: str | None, strategy_params: dict | None = None
) -> Space:
    """The preset's strategies for this modality, each on the user's encoder (or every
    packaged encoder of the modality that is installed), without the settings the user
    fixed; for a kind of item with no pretrained encoder (tables), its candidates'
    learners, whatever the preset."""
    if backbone:
        choices = [backbone]
    else:
        choices = [
            info.name
            for info in backbones.list_backbones()
            if info.modality == modality and info.name != "pixels" and info.available()
        ]
    fixed = strategy_params or {}
    encoders, params = {}, {}
    kind = modalities.get(modality)
    names = PRESETS[check_preset(preset)]
    if kind.default_backbone is None:  # no pretrained encoder (tables): its own learners
        names, choices = tuple(dict.fromkeys(name for name, *_ in kind.candidates)), [None]
    for name in names:
        cls = type(strategies.create(name))
        usable = [c for c in choices if c is None or works_on(cls, modality, c)]
        if not usable:
            continue
        encoders[name] = list(dict.fromkeys(c and encoder_for(cls, modality, c) for c in usable))
        space = cls.search_space | kind.search_choices.get(name, {})
        params[name] = {k: v for k, v in space.items() if k not in fixed.get(name, {})}
    return Space(modality, encoders, params, {k: dict(v) for k, v in fixed.items()})


@dataclass
class Searched(Candidate):
    """A candidate whose label names its encoder when the search chose among several."""

    show_encoder: bool = False

    @property
    def label(self) -> str:
        shown = Candidate.label.fget(self)
        return f"{shown}@{self.backbone}" if self.show_encoder else shown


def candidate_of(space: Space, values: dict[str, Any]) -> Searched:
    """The candidate for a trial's parameters: only values that differ from the strategy's
    defaults are kept, so the defaults read as `probe`, not `probe[class_weight=balanced]`."""
    name = values["strategy"]
    defaults = strategies.create(name).get_params()
    chosen = {
        key.split(".", 1)[1]: value
        for key, value in values.items()
        if key.startswith(name + ".")
        and key != f"{name}.encoder"  # the candidate's backbone, not a parameter
        and value != defaults.get(key.split(".", 1)[1])
    }
    params = {**chosen, **space.fixed.get(name, {})}
    encoder = values.get(f"{name}.encoder", space.encoders[name][0])
    return Searched(name, params, encoder, show_encoder=len(space.encoders[name]) > 1)


def suggest(trial, space: Space) -> dict[str, Any]:
    """Draw one configuration (conditional: each strategy has its own parameters)."""
    name = trial.suggest_categorical("strategy", list(space.params))
    values = {"strategy": name}
    if len(space.encoders[name]) > 1:
        values[f"{name}.encoder"] = trial.suggest_categorical(
            f"{name}.encoder", space.encoders[name]
        )
    for key, choices in space.params[name].items():
        values[f"{name}.{key}"] = trial.suggest_categorical(f"{name}.{key}", choices)
    return values


def defaults_of(space: Space) -> list[dict[str, Any]]:
    """Each strategy's default configuration, in preset order (cheapest first)."""
    return [
        {"strategy": name, **{f"{name}.{k}": c[0] for k, c in space.params[name].items()}}
        for name in space.params
    ]


def key_of(candidate) -> str:
    return json.dumps([candidate.strategy, candidate.params, candidate.backbone], sort_keys=True)
