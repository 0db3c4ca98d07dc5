"""The `ensemble` strategy: the weighted average of member strategies' probabilities
(each softened at its own temperature), each member on its own encoder, saved as one
model directory. `fit` makes it when combining the compared candidates wins
(smallfit.fitting.combine); it is not a candidate itself."""

from __future__ import annotations

import warnings

import numpy as np

from smallfit import backbones
from smallfit.errors import SmallfitError
from smallfit.numeric import soften
from smallfit.strategies.base import Strategy, accepted_fit_params
from smallfit.strategies.constraints import Kind
from smallfit.strategies.registry import create, register


@register
class Ensemble(Strategy):
    """The weighted average of member strategies' probabilities, each on its own encoder.

    `members`: [{"strategy": name, "params": {...}, "backbone": name or None}], each
    refit on the whole data by `fit`; `weights`: one per member, summing to 1;
    `temperatures`: one per member (None: all 1), each member's probabilities raised to
    1 / temperature and renormalised before averaging (an over-confident member softened).
    Made by `fit` when combining wins (smallfit.fitting.combine), not a search candidate.
    """

    name = "ensemble"
    uses_encoder = False  # each member brings its own

    constraints = {
        "members": [Kind(list), None],
        "weights": [Kind(list), None],
        "temperatures": [Kind(list), None],
    }

    def __init__(
        self,
        members: list[dict] | None = None,
        weights: list[float] | None = None,
        temperatures: list[float] | None = None,
    ):
        self.members = members
        self.weights = weights
        self.temperatures = temperatures

    def _temperatures(self) -> list[float]:
        return self.temperatures or [1.0] * len(self.weights or [])

    def _members(self) -> list[tuple[Strategy, object]]:
        sizes = {len(self.members or []), len(self.weights or []), len(self._temperatures())}
        if not self.members or not self.weights or len(sizes) != 1:
            raise SmallfitError(
                "The ensemble strategy is made by `fit` from the compared candidates; it "
                "cannot be chosen with --strategy."
            )
        return [
            (
                create(spec["strategy"], **spec["params"]),
                backbones.create(spec["backbone"]) if spec["backbone"] else None,
            )
            for spec in self.members
        ]

    def fit(self, dataset, encoder=None, **fit_params) -> Ensemble:
        """Fit every member on `dataset` with its own encoder (`encoder` is not used)."""
        self._remember(dataset, None)
        self.members_ = []
        for member, member_encoder in self._members():
            params = accepted_fit_params(member, fit_params)
            self.members_.append(member.fit(dataset, member_encoder, **params))
        return self

    def predict_proba(self, items) -> np.ndarray:
        return sum(
            weight * soften(member.predict_proba(items), temperature)
            for weight, temperature, member in zip(
                self.weights, self._temperatures(), self.members_, strict=True
            )
        )

    def as_sklearn(self):
        """Members that read the same features (fitted on the same rows: identical, as
        checked on generated items) with scikit-learn classifiers, as one soft-voting
        classifier of those; not when a member is softened (soft voting averages the
        members' own probabilities)."""
        if any(t != 1 for t in self._temperatures()):
            raise NotImplementedError
        parts = [member.as_sklearn() for member in self.members_]
        features = parts[0][0]
        probe = features.onnx_export().examples(4)
        expected = features.transform(probe)
        same = all(np.array_equal(f.transform(probe), expected) for f, _ in parts[1:])
        weights = np.asarray(self.weights, dtype=float)
        if not same or abs(weights.sum() - 1) > 1e-6:
            raise NotImplementedError
        from sklearn.ensemble import VotingClassifier
        from sklearn.preprocessing import LabelEncoder

        voting = VotingClassifier(
            [(f"member{i}", model) for i, (_, model) in enumerate(parts)],
            voting="soft",
            weights=weights,
            flatten_transform=False,
        )
        voting.estimators_ = [model for _, model in parts]
        voting.le_ = LabelEncoder().fit(np.arange(len(self.classes_)))
        voting.classes_ = voting.le_.classes_
        return parts[0][0], voting

    def encoders(self) -> list:
        """The distinct encoders the members read (for timing and uncached prediction)."""
        found = [e for member in self.members_ for e in member.encoders()]
        return list({id(e): e for e in found}.values())

    def get_state(self):
        arrays, configs = {}, []
        for index, member in enumerate(self.members_):
            member_arrays, config = member.get_state()
            arrays |= {f"member{index}.{k}": v for k, v in member_arrays.items()}
            encoder = getattr(member, "encoder_", None)
            configs.append({"config": config, "encoder": encoder and backbones.describe(encoder)})
        return arrays, {"classes": list(self.classes_), "members": configs}

    def set_state(self, arrays, config, encoder) -> Ensemble:
        self.members_ = []
        for index, ((member, member_encoder), saved) in enumerate(
            zip(self._members(), config["members"], strict=True)
        ):
            prefix = f"member{index}."
            own = {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}
            weights = getattr(member_encoder, "weights_id", None)
            if saved["encoder"] and weights != saved["encoder"]["weights"]:
                warnings.warn(
                    f"The installed {member_encoder.name} weights differ from those this "
                    "ensemble's member was trained with; predictions may differ.",
                    stacklevel=2,
                )
            member.set_state(own, saved["config"], member_encoder)
            member.classes_ = list(config["classes"])
            self.members_.append(member)
        return self
