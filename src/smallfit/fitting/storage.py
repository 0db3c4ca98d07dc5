"""Where a search's trials live and how the processes sharing them keep track: the Optuna
storage named by the user, opened with clear errors; which configurations are settled,
running elsewhere or to run again; and the trials of processes that died, found and
handed back to the search.

- No storage: Optuna's in-memory storage (one process, the Python default).
- A file path: Optuna's journal file (many processes on one machine, file locks, no
  server); the CLI's default, next to the model directory.
- A URL (`postgresql://user@host/db`, `sqlite:///file.db`): Optuna's RDB storage, shared
  by `smallfit worker URL` processes on any machine that reaches it. Every process then
  beats a heartbeat while it runs a trial, so a trial whose process was killed or lost
  its network is failed after `GRACE_SECONDS` by the next process that looks.

On a journal file a trial whose process (of this machine) no longer exists is failed the
same way. The search runs a failed configuration again, at most `RETRIES` times, and the
leaderboard says so. Errors of the storage itself (no driver, a wrong password, an unreachable host,
an unwritable file) become one-line SmallfitErrors, with any password hidden.
"""

from __future__ import annotations

import contextlib
import os
import socket
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from smallfit.errors import SmallfitError

HEARTBEAT_SECONDS = 5  # how often a process running a trial says it is alive (RDB)
GRACE_SECONDS = 20  # silence after which its trial counts as lost
RETRIES = 1  # a failed configuration runs again at most this many times


def is_url(storage: str) -> bool:
    return "://" in storage


def shown(storage: str) -> str:
    """The storage as it may be printed: a URL's password hidden."""
    if not is_url(storage):
        return storage
    try:
        from sqlalchemy.engine import make_url

        return make_url(storage).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as given, minus nothing secret
        return storage.split("@")[-1] if "@" in storage else storage


def first_line(error: BaseException) -> str:
    """The driver's own explanation, without SQLAlchemy's statement and background lines."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def open_storage(storage: str | None):
    """The Optuna storage for `storage` (None: in memory; a path: a journal file; a URL: RDB)."""
    import optuna

    if storage is None:
        return optuna.storages.InMemoryStorage()
    if not is_url(storage):
        path = Path(storage).expanduser()
        if not path.parent.is_dir():
            raise SmallfitError(f"Cannot keep the search in {path}: {path.parent} is no folder.")
        from optuna.storages.journal import JournalFileBackend

        with storage_errors(storage):
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    # SQLite serialises writers; a longer lock timeout lets several processes share a file.
    extra = {"connect_args": {"timeout": 60}} if storage.startswith("sqlite") else None
    with storage_errors(storage), warnings.catch_warnings():
        warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            storage,
            engine_kwargs=extra,
            heartbeat_interval=HEARTBEAT_SECONDS,
            grace_period=GRACE_SECONDS,
        )


@contextlib.contextmanager
def storage_errors(storage: str) -> Iterator[None]:
    """Turn the storage's own failures into one readable line (the CLI exits 2 on it)."""
    try:
        yield
    except ImportError as error:
        driver = "PostgreSQL" if storage.startswith("postgres") else "this database"
        raise SmallfitError(
            f"No driver for {driver} is installed ({first_line(error)}); for PostgreSQL "
            "install the distributed extra: pip install -e '.[distributed]'."
        ) from None
    except OSError as error:
        raise SmallfitError(f"Cannot use the search storage {shown(storage)}: {error}") from None
    except Exception as error:
        if type(error).__module__.startswith("sqlalchemy"):
            raise SmallfitError(
                f"Cannot use the search storage {shown(storage)}: {first_line(error)}"
            ) from None
        raise


def worker_id() -> str:
    """Which process runs a trial: host:pid (recorded with every trial)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_gone(worker: str | None) -> bool:
    """Whether `worker` (host:pid) was a process of this machine that no longer runs
    (ended, or killed and not yet reaped by its parent)."""
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    stat = Path(f"/proc/{pid}/stat")  # Linux: a zombie still answers kill(pid, 0)
    with contextlib.suppress(OSError, IndexError):
        return stat.read_text().rpartition(")")[2].split()[0] == "Z"
    return False


def failure_counts(trials) -> Counter:
    """How many failed trials each configuration key has."""
    return Counter(t.user_attrs.get("key") for t in trials if t.state.name == "FAIL")


def settled_and_running(trials) -> tuple[set[str], set[str]]:
    """The configuration keys settled (scored, skipped, or failed past their retries) and
    the others that run in another process now."""
    done = {t.user_attrs.get("key") for t in trials if t.state.name in ("COMPLETE", "PRUNED")}
    done |= {key for key, count in failure_counts(trials).items() if count > RETRIES}
    me = worker_id()
    running = {
        t.user_attrs.get("key")
        for t in trials
        if t.state.name == "RUNNING" and t.user_attrs.get("worker") != me
    }
    return done - {None}, running - done - {None}


def run_failed_again(study, trials) -> None:
    """Enqueue each failed configuration (its process died or was stopped) once more,
    unless it has been scored since or has failed past its retries."""
    settled, _ = settled_and_running(trials)
    marks = study.user_attrs
    for t in trials:
        key = t.user_attrs.get("key")
        if t.state.name == "FAIL" and key is not None and key not in settled:
            mark = f"run_again:{t.number}"
            if mark not in marks:
                study.set_user_attr(mark, True)
                study.enqueue_trial(t.params)


def fail_lost_trials(study) -> None:
    """Mark failed the running trials whose process is gone: by heartbeat on an RDB
    storage (any machine), by process id on a journal file (one machine)."""
    import optuna
    from optuna.trial import TrialState

    optuna.storages.fail_stale_trials(study)  # RDB: heartbeats; other storages: nothing
    store = study._storage  # Optuna has no public call to fail another process's trial
    if not isinstance(store, optuna.storages.JournalStorage):
        return
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if process_gone(trial.user_attrs.get("worker")):
            trial_id = store.get_trial_id_from_study_id_trial_number(
                store.get_study_id_from_name(study.study_name), trial.number
            )
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                store.set_trial_state_values(trial_id, state=TrialState.FAIL)


def open_study(storage: str | None, name: str | None, seed: int, n_startup: int, create: bool):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
        store = open_storage(storage)
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
    pruner = median_pruner(n_startup)
    with storage_errors(storage or "memory"):
        if create:
            return optuna.create_study(
                storage=store, sampler=sampler, pruner=pruner, study_name=name, direction="maximize"
            )
        return optuna.load_study(study_name=name, storage=store, sampler=sampler, pruner=pruner)


def median_pruner(n_startup: int):
    """Stops a trial whose running accuracy trails the median, after `n_startup` trials."""
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=n_startup, n_warmup_steps=1)


def latest_study(storage: str) -> str:
    import optuna

    with storage_errors(storage):
        summaries = optuna.get_all_study_summaries(open_storage(storage))
    summaries = [s for s in summaries if s.study_name.startswith("smallfit-")]
    if not summaries:
        raise SmallfitError(
            f"{shown(storage)} holds no smallfit search; start one with `smallfit fit`."
        )
    return max(summaries, key=lambda s: s.datetime_start or 0).study_name
