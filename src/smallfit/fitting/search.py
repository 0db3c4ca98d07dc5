"""Budgeted search over encoder x strategy x hyper-parameters (Optuna).

A TPE sampler, seeded, proposes a strategy, its encoder and its main hyper-parameters;
each proposal is cross-validated on the same splits, fold by fold, and a median pruner
stops one whose running accuracy trails the others'. Every strategy's defaults run
first (enqueued), cheapest first, so the search never does worse than comparing the
defaults. The space is finite (every choice is a list), so a proposal seen before
reuses its result and the search ends when every configuration has been scored, when
the budget runs out, or when nothing left fits in it.

The budget holds: a strategy's measured seconds per training item and fold (shared by
every process of a study) project each trial's cost, a trial that would not finish is
skipped, training runs stop at the first epoch (or batch of fine-tuning's frozen
activations) past the deadline, and time is kept for
the final refit (and the holdout fit) of the best configuration so far.

Trials live in an Optuna storage (smallfit.fitting.storage): in memory by default in Python, a
journal file next to the model for the CLI (workers on the same machine), or an RDB URL
(PostgreSQL) shared by `smallfit worker URL` processes on other machines; a study's user
attributes hold the data (texts, or image paths that every machine can read) and the
settings a worker needs. A configuration that another process is running is awaited, not
run twice; one whose process died (smallfit.fitting.storage.fail_lost_trials) runs again, once.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone

from smallfit import backbones
from smallfit.budget import UNLIMITED, Budget, OutOfTime
from smallfit.data import Dataset
from smallfit.errors import SmallfitError
from smallfit.evaluate import Splits, accuracy_interval, out_of_fold
from smallfit.evaluate.selection import outer_split
from smallfit.fitting.candidates import build, comparison_splits
from smallfit.fitting.space import (
    Searched,
    Space,
    candidate_of,
    defaults_of,
    key_of,
    make_space,
    suggest,
)
from smallfit.fitting.storage import (
    RETRIES,
    fail_lost_trials,
    failure_counts,
    is_url,
    latest_study,
    median_pruner,
    open_study,
    run_failed_again,
    settled_and_running,
    shown,
    storage_errors,
    worker_id,
)
from smallfit.progress import console, enabled
from smallfit.strategies.base import accepted_fit_params
from smallfit.train.loop import stratified_holdout

MAX_TRIALS = 300  # a safety net; finite spaces and the budget end searches long before
MEASURE_FROM = 100  # training items per fold from which a new strategy's cost is measured first
POLL_SECONDS = 1.0  # how often a process waiting for another's trial looks again


@dataclass
class Found:
    """What a search hands back to `fit_dataset`: the scored candidates, their leaderboard
    rows and out-of-fold probabilities, the splits, and the data they cover."""

    candidates: list[Searched]
    leaderboard: list[dict]
    probas: dict[str, np.ndarray]  # out-of-fold, by candidate label
    splits: Splits
    full: Dataset  # all the data
    rows: np.ndarray  # the items (indices into `full`) the search scored
    dataset: Dataset  # those items
    holdout: np.ndarray | None  # the items the search never saw (None: too few to spare)
    summary: dict


class Search:
    """One process's part in a study: runs trials until the shared deadline."""

    def __init__(
        self, study, dataset: Dataset, space: Space, splits: Splits, settings: dict, shared: bool
    ):
        self.study, self.dataset, self.space, self.splits = study, dataset, space, splits
        self.seed = settings["seed"]
        self.budget = Budget(settings["deadline"])  # wall clock: the same on every machine
        self.final_fits = settings["final_fits"]  # refit on all data (+ on the search part)
        self.fit_params = settings.get("fit_params")
        self.n_all = settings["n_all"]
        self.started = settings["started"]
        self.shared = shared  # in a storage other processes can reach (not in memory)
        self.ran = 0

    # -- time ---------------------------------------------------------------------------
    def cost_per_item(self) -> dict[str, float]:
        """Measured seconds per training item and fold, per strategy (every process's trials)."""
        measured: dict[str, list[float]] = {}
        for trial in self.study.get_trials(deepcopy=False):
            if "seconds_per_item" in trial.user_attrs:
                strategy = trial.user_attrs["strategy"]
                measured.setdefault(strategy, []).append(trial.user_attrs["seconds_per_item"])
        return {name: float(np.median(values)) for name, values in measured.items()}

    def reserve(self) -> float:
        """Seconds kept for the final fits of the best configuration so far."""
        best = self.best_trial()
        cost = self.cost_per_item().get(best.user_attrs["strategy"]) if best else None
        return (cost or 0.0) * self.n_all * self.final_fits

    def projected(self, strategy: str) -> float | None:
        cost = self.cost_per_item().get(strategy)
        if cost is None:
            return None
        train_items = np.mean([len(train) for train, _ in self.splits.pairs])
        return cost * train_items * len(self.splits.pairs)

    def best_trial(self):
        done = [t for t in self.study.get_trials(deepcopy=False) if t.value is not None]
        return max(done, key=lambda t: t.value) if done else None

    # -- trials -------------------------------------------------------------------------
    def objective(self, trial) -> float:
        import optuna

        values = suggest(trial, self.space)
        candidate = candidate_of(self.space, values)
        key = key_of(candidate)
        trial.set_user_attr("key", key)
        trial.set_user_attr("strategy", candidate.strategy)
        trial.set_user_attr("worker", worker_id())
        earlier = self.earlier_run(trial.number, key)
        if earlier is not None:
            trial.set_user_attr("same_as", earlier.number)
            if earlier.value is not None:
                return earlier.value
            raise optuna.TrialPruned(f"same as trial {earlier.number}")
        failed = failure_counts(self.study.get_trials(deepcopy=False))[key]
        if failed > RETRIES:
            return self.skip(trial, f"failed: its process stopped in {failed} trials")
        first = self.ran == 0 and self.best_trial() is None
        self.ran += 1
        budget = UNLIMITED if first else self.budget.less(self.reserve())
        left = budget.left()
        model, encoder = build(candidate, self.seed)
        projected = self.projected(candidate.strategy)
        if not first and projected is None:
            try:
                projected = self.measure(trial, model, encoder, budget)
            except OutOfTime as stop:
                return self.skip(trial, f"time budget: {stop}")
            except Exception as error:  # noqa: BLE001 - as below: the search goes on
                return self.skip(trial, f"failed: {type(error).__name__}: {error}")
        if not first and projected is not None and projected > left:
            return self.skip(trial, f"time budget: projected {projected:.0f} s, {left:.0f} s left")
        started = time.perf_counter()

        def on_fold(number: int, probas: np.ndarray) -> None:
            self.record_cost(trial, started, number + 1)
            trial.report(running_accuracy(self.dataset.y, probas), number)
            if trial.should_prune():
                trial.set_user_attr("skipped", f"pruned after {number + 1} fold(s)")
                raise optuna.TrialPruned(f"pruned after {number + 1} fold(s)")

        try:
            probas = out_of_fold(
                model,
                self.dataset,
                encoder,
                self.splits,
                description=f"Trial {trial.number}: {candidate.label}",
                budget=budget,
                fit_params=self.fit_params,
                on_fold=on_fold,
            )
        except OutOfTime as stop:
            if "seconds_per_item" not in trial.user_attrs:  # stopped in its first fold
                self.record_cost(trial, started, 1)  # a lower bound, for later projections
            return self.skip(trial, f"time budget: {stop}")
        except optuna.TrialPruned:
            raise
        except Exception as error:  # noqa: BLE001 - one configuration failing ends no search
            warnings.warn(f"{candidate.label} failed: {error}", stacklevel=2)
            return self.skip(trial, f"failed: {type(error).__name__}: {error}")
        trial.set_user_attr("cv_seconds", round(time.perf_counter() - started, 2))
        trial.set_user_attr("oof", np.round(probas, 6).tolist())
        return float(accuracy_interval(self.dataset.y, probas)["value"])

    def earlier_run(self, number: int, key: str):
        """The first earlier trial of the same configuration that did not fail, once it has
        finished: while another process still runs it, wait (its result is coming, or its
        process was lost and it fails); None when there is none."""
        from optuna.trial import TrialState

        while True:
            same = [
                t
                for t in self.study.get_trials(deepcopy=False)
                if t.number < number and t.user_attrs.get("key") == key
                if t.state != TrialState.FAIL
            ]
            if not same:
                return None
            first = min(same, key=lambda t: t.number)
            if first.state.is_finished() or self.budget.left() <= 0:
                return first
            time.sleep(POLL_SECONDS)
            fail_lost_trials(self.study)

    def measure(self, trial, model, encoder, budget: Budget) -> float | None:
        """A strategy's first cost: one fit on a fifth of the first fold's training part,
        so that a slow strategy's first fold cannot overrun the budget (small data: none)."""
        train = self.splits.pairs[0][0]
        if len(train) < MEASURE_FROM:
            return None
        part = train[stratified_holdout(self.dataset.y[train], 0.2, self.seed)[1]]
        tic = time.perf_counter()
        with budget.active():
            params = accepted_fit_params(model, self.fit_params)
            clone(model).fit(self.dataset.subset(part), encoder, **params)
        trial.set_user_attr("seconds_per_item", (time.perf_counter() - tic) / len(part))
        return self.projected(trial.user_attrs["strategy"])

    def record_cost(self, trial, started: float, folds: int) -> None:
        train_items = sum(len(train) for train, _ in self.splits.pairs[:folds])
        trial.set_user_attr("seconds_per_item", (time.perf_counter() - started) / train_items)

    def skip(self, trial, reason: str):
        import optuna

        trial.set_user_attr("skipped", reason)
        raise optuna.TrialPruned(reason)

    def after_trial(self, study, trial) -> None:
        """Progress line; stop when the space is done, the budget is spent or nothing fits.
        A configuration whose process failed is enqueued again; while all that is left runs
        in other processes, wait for them (their results, or their loss, decide)."""
        best = self.best_trial()
        if enabled() and "same_as" not in trial.user_attrs and trial.params:
            score = f"{trial.value:.3f}" if trial.value is not None else "—"
            note = trial.user_attrs.get("skipped", "")
            best_text = f"best {best.value:.3f}" if best else "no score yet"
            console.print(
                f"Search: trial {trial.number} {candidate_of(self.space, trial.params).label}: "
                f"{score} {note} | {best_text} | about {max(0.0, self.budget.left()):.0f} s left",
                highlight=False,
                markup=False,
            )
        while True:
            trials = study.get_trials(deepcopy=False)
            run_failed_again(study, trials)
            settled, running = map(strategies_of, settled_and_running(trials))
            remaining = self.budget.left() - self.reserve()
            untried = [n for n in self.space.params if settled[n] < self.space.size_of(n)]
            costs = [self.projected(name) for name in untried]
            affordable = any(c is None or c < remaining for c in costs)
            if not affordable or remaining <= 0 or len(trials) >= MAX_TRIALS:
                study.stop()
                return
            queued = any(t.state.name == "WAITING" for t in trials)
            if queued or any(settled[n] + running[n] < self.space.size_of(n) for n in untried):
                return  # something is left to propose
            time.sleep(POLL_SECONDS)
            fail_lost_trials(study)

    def run(self) -> None:
        import optuna

        if self.budget.left() <= 0 and self.best_trial() is not None:
            return  # the budget is spent (a first trial always runs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
            self.study.optimize(
                self.objective,
                callbacks=[self.after_trial],
                n_trials=MAX_TRIALS,
                catch=(),
            )

    def collect(self, dataset: Dataset) -> Found:
        """Leaderboard rows (one per distinct configuration, in trial order) from every
        process's trials, and the out-of-fold probabilities of the scored ones."""
        study, scored, space, seed = self.study, self.dataset, self.space, self.seed
        rows, holdout = search_part(dataset, seed)
        candidates, board, probas_by_label = [], [], {}
        runs: dict[str, list] = {}  # per configuration, its own trials (not its reuses)
        for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
            attrs = trial.user_attrs
            if trial.state.is_finished() and "same_as" not in attrs and "key" in attrs:
                runs.setdefault(attrs["key"], []).append(trial)
        for tries in runs.values():
            lost = [t for t in tries if t.state.name == "FAIL"]
            kept = [t for t in tries if t.state.name != "FAIL"]
            trial = kept[0] if kept else lost[0]
            attrs = trial.user_attrs
            candidate = candidate_of(space, trial.params)
            row = {
                "candidate": candidate.label,
                "strategy": candidate.strategy,
                "params": candidate.params,
                "backbone": candidate.backbone,
                "trial": trial.number,
            }
            if "oof" in attrs:
                probas = np.array(attrs["oof"], dtype=float)
                probas_by_label[candidate.label] = probas
                row["accuracy"] = accuracy_interval(
                    scored.y, probas, random_state=seed, groups=scored.groups
                )
            elif kept:
                row |= {"accuracy": None, "skipped": attrs.get("skipped", "failed")}
            else:
                row |= {"accuracy": None, "skipped": "failed: its process stopped"}
            if lost:
                row["lost"] = [
                    f"trial {t.number} on {t.user_attrs.get('worker', '?')}: its process stopped"
                    for t in lost
                ]
            row["cv_seconds"] = attrs.get("cv_seconds", 0.0)
            candidates.append(candidate)
            board.append(row)
        if not probas_by_label:
            raise SmallfitError("The search scored no candidate; give it a larger --time-budget.")
        summary = {
            "study": study.study_name if self.shared else None,
            "trials": len(study.get_trials(deepcopy=False)),
            "distinct_configurations": len(board),
            "space_size": space.size,
            "time_budget": round(self.budget.deadline - self.started, 3),
        }
        return Found(
            candidates, board, probas_by_label, self.splits, dataset, rows, scored, holdout, summary
        )


def strategies_of(keys) -> Counter:
    """How many of the configuration keys belong to each strategy."""
    return Counter(json.loads(key)[0] for key in keys)


def running_accuracy(y: np.ndarray, probas: np.ndarray) -> float:
    """Accuracy over the out-of-fold predictions made so far (every repeat)."""
    made = ~np.isnan(probas[:, :, 0])
    predicted = probas.argmax(axis=2)
    return float((predicted[made] == np.broadcast_to(y, made.shape)[made]).mean())


def search_part(dataset: Dataset, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The items the search scores, and the outer holdout it never sees (None if too few)."""
    split = outer_split(dataset.y, seed, dataset.groups)
    return (np.arange(len(dataset)), None) if split is None else split


def portable_data(dataset: Dataset) -> dict | None:
    """The data as JSON for workers: texts, or image paths; None for in-memory images."""
    if not all(isinstance(item, str) or hasattr(item, "__fspath__") for item in dataset.items):
        return None
    return {
        "items": [str(item) for item in dataset.items],
        "modality": dataset.modality,
        "y": dataset.y.tolist(),
        "classes": list(dataset.classes),
        "source": dataset.source,
        "groups": None if dataset.groups is None else dataset.groups.tolist(),
    }


def run(dataset: Dataset, **options) -> Found:
    """Search within `time_budget` seconds and collect every process's trials
    (options: those of `start`)."""
    search = start(dataset, **options)
    search.run()
    return search.collect(dataset)


def start(
    dataset: Dataset,
    *,
    backbone: str | None,
    preset: str,
    budget: Budget,
    storage: str | None,
    seed: int,
    folds: int | None = None,
    loocv: bool = False,
    strategy_params: dict | None = None,
    fit_params: dict | None = None,
) -> Search:
    """Create the study (settings, data for workers, the defaults enqueued) and this
    process's Search on it, to end within `budget` (a limited one)."""
    started = time.time()
    space = make_space(dataset.modality, preset, backbone, strategy_params)
    rows, holdout = search_part(dataset, seed)
    scored = dataset if holdout is None else dataset.subset(rows)
    for name in dict.fromkeys(e for es in space.encoders.values() for e in es if e):
        backbones.create(name).embed(dataset.items, description=f"Embedding with {name}")
    splits = comparison_splits(scored.y, space.params, folds, loocv, seed, groups=scored.groups)
    enqueued = defaults_of(space)
    study_name = f"smallfit-{dataset.fingerprint()[:12]}-{time.strftime('%Y%m%d-%H%M%S')}"
    study = open_study(storage, study_name, seed, len(enqueued), create=True)
    settings = {
        "seed": seed,
        "started": started,
        "deadline": budget.deadline,
        "final_fits": 2 if holdout is not None else 1,
        "n_all": len(dataset),
        "preset": preset,
        "backbone": backbone,
        "folds": folds,
        "loocv": loocv,
        "strategy_params": space.fixed,
    }
    study.set_user_attr("settings", settings)
    data = portable_data(dataset) if storage is not None else None
    if data is not None and not any(v is not None for v in (fit_params or {}).values()):
        study.set_user_attr("data", data)
    for params in enqueued:
        study.enqueue_trial(params)
    if enabled() and storage is not None:
        where = "from other machines" if is_url(storage) else "on this machine"
        console.print(
            f"Search: study {study_name} in {shown(storage)}: more processes can join "
            f"{where} with `smallfit worker {shown(storage)}`",
            highlight=False,
            markup=False,
        )
    settings = {**settings, "fit_params": fit_params}
    return Search(study, scored, space, splits, settings, shared=storage is not None)


def work(storage: str, study_name: str | None = None) -> int:
    """Join a running search in `storage` (the newest smallfit study, or `study_name`) and
    run trials until its deadline; returns how many trials this process ran. Its sampler
    is not seeded (seeded alike, two processes would propose the same configurations)."""
    if not is_url(storage) and not os.path.isfile(storage):
        raise SmallfitError(f"No search is kept in {storage}: no such file.")
    name = study_name or latest_study(storage)
    study = open_study(storage, name, None, 1, create=False)
    attrs = study.user_attrs
    settings, data = attrs.get("settings"), attrs.get("data")
    if settings is None:
        raise SmallfitError(f"Study {name} in {shown(storage)} was not made by `smallfit fit`.")
    if data is None:
        raise SmallfitError(
            f"Study {name} cannot take workers: its data was given in memory (images as "
            "objects, or with unlabeled pools), not as texts or image paths."
        )
    dataset = Dataset(
        items=data["items"],
        modality=data["modality"],
        labels=[data["classes"][i] for i in data["y"]],
        classes=data["classes"],
        source=data["source"],
        groups=data.get("groups"),
    )
    space = make_space(
        dataset.modality, settings["preset"], settings["backbone"], settings["strategy_params"]
    )
    study.pruner = median_pruner(len(defaults_of(space)))  # known once the space is read
    rows, holdout = search_part(dataset, settings["seed"])
    scored = dataset if holdout is None else dataset.subset(rows)
    splits = comparison_splits(
        scored.y,
        space.params,
        settings["folds"],
        settings["loocv"],
        settings["seed"],
        groups=scored.groups,
    )
    search = Search(study, scored, space, splits, settings, shared=True)
    with storage_errors(storage):
        search.run()
    return search.ran
