"""Several processes sharing one search: `smallfit worker` on a journal file (one machine)
and on a real PostgreSQL server (many machines), a worker killed in the middle of a
trial, and the storage's errors as one line with exit code 2.

The PostgreSQL tests need a server: `.ci/run` starts one (`.ci/postgres`) and sets
SMALLFIT_TEST_POSTGRES to its URL; without it they are skipped."""

import os
import signal
import subprocess
import sys
import time

import optuna
import pytest

from smallfit.budget import Budget
from smallfit.fitting import search, storage
from smallfit.modalities.reading import to_dataset
from tests.cli_runner import run

POSTGRES = os.environ.get("SMALLFIT_TEST_POSTGRES")
needs_postgres = pytest.mark.skipif(
    not POSTGRES, reason='no PostgreSQL server: run `eval "$(bash .ci/postgres)"` first'
)
# One fine-tuning configuration (seconds a trial, so it can be killed half-way) beside the
# frozen strategies' six: seven configurations in all. The median pruner decides from the
# trials finished before, so which ones it stops depends on the order they ran in; every
# configuration scored both alone and shared must score the same.
SETTINGS = dict(
    backbone=None,
    preset="balanced",
    seed=0,
    folds=3,
    strategy_params={
        "finetune": {"unfreeze": "top", "top_groups": 1, "lr": 3e-3, "augment": "none"}
    },
)


def workers(url: str, study: str, count: int) -> list[subprocess.Popen]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "SMALLFIT_QUIET": "1"}
    main = "from smallfit.cli import main; main()"
    command = [sys.executable, "-c", main, "worker", url, "--study", study]
    return [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(count)
    ]


def kill_the_finetune_worker(study: optuna.Study, timeout: float = 240) -> int:
    """SIGKILL the process running the fine-tuning trial, once it has started; its pid."""
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            if trial.user_attrs.get("strategy") == "finetune" and "worker" in trial.user_attrs:
                pid = int(trial.user_attrs["worker"].rpartition(":")[2])
                os.kill(pid, signal.SIGKILL)  # in its first fold: seconds from its end
                return pid
        time.sleep(0.1)
    raise AssertionError("no worker started the fine-tuning trial")


def scores(found) -> dict[str, float | None]:
    return {
        row["candidate"]: row["accuracy"] and row["accuracy"]["value"] for row in found.leaderboard
    }


def share_a_search_and_kill_one(url: str, text_csv, count: int):
    """`count` workers run a search in `url`; one is killed mid-trial. Returns what the
    search found, the workers' outputs and the single-process leaderboard to match."""
    dataset = to_dataset(text_csv, labeled=True)
    created = search.start(dataset, storage=url, budget=Budget.of(400), **SETTINGS)
    processes = workers(url, created.study.study_name, count)
    killed = kill_the_finetune_worker(created.study)
    outputs = {p.pid: p.communicate(timeout=400)[0].decode() for p in processes}
    codes = {p.pid: p.returncode for p in processes}
    assert codes.pop(killed) == -signal.SIGKILL
    assert set(codes.values()) == {0}, outputs
    found = created.collect(dataset)
    alone = search.run(dataset, storage=None, budget=Budget.of(400), **SETTINGS)
    return found, created.study.get_trials(deepcopy=False), alone


def check_the_shared_search(found, trials, alone, count: int) -> None:
    shared, single = scores(found), scores(alone)
    assert sorted(shared) == sorted(single) and len(shared) == 7  # every configuration
    both = [name for name in shared if shared[name] is not None and single[name] is not None]
    # The pruner waits for as many finished trials as there are defaults (5); the first
    # three defaults run before that in both searches, so at least they are scored twice.
    # Which later ones the pruner stops depends on the order the workers finished in.
    assert {"probe", "prototype", "zeroshot"} <= set(both)
    assert {n: shared[n] for n in both} == {n: single[n] for n in both}
    ran = {t.user_attrs.get("worker") for t in trials if "same_as" not in t.user_attrs}
    assert len(ran - {None}) == count  # every worker scored configurations
    lost = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert [t.user_attrs["strategy"] for t in lost] == ["finetune"]
    (finetune,) = [row for row in found.leaderboard if row["strategy"] == "finetune"]
    assert finetune["lost"] == [
        f"trial {lost[0].number} on {lost[0].user_attrs['worker']}: its process stopped"
    ]
    assert finetune["trial"] > lost[0].number  # run again, by a process still alive
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]


@pytest.mark.slow
def test_workers_on_one_machine_share_a_journal_file_and_survive_a_kill(text_csv, tmp_path):
    found, trials, alone = share_a_search_and_kill_one(str(tmp_path / "s.journal"), text_csv, 2)
    check_the_shared_search(found, trials, alone, 2)  # the lost trial found by process id


@needs_postgres
@pytest.mark.slow
def test_three_workers_share_a_postgres_search_and_survive_a_kill(text_csv):
    found, trials, alone = share_a_search_and_kill_one(POSTGRES, text_csv, 3)
    check_the_shared_search(found, trials, alone, 3)  # the lost trial found by heartbeat


@needs_postgres
def test_a_wrong_postgres_password_is_one_line_and_exit_2():
    wrong = POSTGRES.replace("smallfit:smallfit@", "smallfit:not-the-password@")
    code, output = run("worker", wrong)
    assert code == 2
    assert "password authentication failed" in output and "not-the-password" not in output


def test_an_unreachable_database_host_is_one_line_and_exit_2():
    code, output = run("worker", "postgresql://someone:secret@127.0.0.1:9/nothing")
    assert code == 2 and "Cannot use the search storage" in output
    assert "secret" not in output and "Traceback" not in output


def test_a_missing_postgres_driver_names_the_extra_to_install(monkeypatch):
    for name in ("psycopg", "psycopg2"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as if not installed
    code, output = run("worker", "postgresql://someone@127.0.0.1:9/nothing")
    assert code == 2 and "pip install -e '.[distributed]'" in output


def test_a_worker_without_a_study_says_so(tmp_path):
    code, output = run("worker", f"sqlite:///{tmp_path / 'empty.db'}")
    assert code == 2 and "holds no smallfit search" in output
    code, output = run("worker", tmp_path / "none.journal")
    assert code == 2 and "no such file" in output
    assert not (tmp_path / "none.journal").exists()  # nothing created by looking


def test_a_process_of_this_machine_that_ended_counts_as_gone():
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    pid = int(ended.stdout)
    host = storage.worker_id().rpartition(":")[0]
    assert storage.process_gone(f"{host}:{pid}")
    assert not storage.process_gone(storage.worker_id())  # this one runs
    assert not storage.process_gone(f"another-host:{pid}")  # cannot be told from here


def test_a_killed_process_not_yet_reaped_counts_as_gone():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    host = storage.worker_id().rpartition(":")[0]
    assert not storage.process_gone(f"{host}:{child.pid}")
    child.send_signal(signal.SIGKILL)
    time.sleep(0.5)  # dead, and a zombie until waited for
    assert storage.process_gone(f"{host}:{child.pid}")
    child.wait()


@pytest.mark.slow
def test_a_cli_search_keeps_its_trials_in_a_journal_file_it_removes_afterwards(text_csv, tmp_path):
    leftover = tmp_path / "m.search.journal"
    leftover.write_text("not a journal\n")  # left by an interrupted fit: started afresh
    code, output = run("fit", text_csv, "--out", tmp_path / "m", "--preset", "fast")
    assert code == 0, output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no journal, no lock file
