"""Fits run by the app: one at a time per project, each a `smallfit fit` process.

A separate process keeps the server answering while the fit uses the CPU, lets a fit be
cancelled (its process group is stopped), and leaves exactly what the command line
would: a model folder written whole, or nothing. The state of the last fit is kept in
the project's `fit.json`, so a restarted server finds a fit it did not see end, stops it
if its process outlived the old server, and marks it interrupted; the models that
finished are untouched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from smallfit.app.workspace import Project, atomic_write
from smallfit.errors import SmallfitError

EVENTS_FILE = "fit.events"  # the running fit's progress (smallfit.progress), JSON lines
LOG_LINES = 40  # of the fit's output, shown while it runs and when it fails
PRESETS = ("fast", "balanced", "best")


class FitConflict(SmallfitError):
    """The project's fit is not in a state that allows the request (one already runs,
    or none runs to cancel)."""


class Jobs:
    """The running fit processes of a workspace, by project."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, project: Project, settings: dict[str, Any]) -> dict[str, Any]:
        """Start fitting `project` with `settings` (strategy, preset, time_budget, seed);
        refused while one of its fits runs."""
        table, rows = project.training_table()
        command = fit_command(table, settings)
        with self.lock:
            if self._alive(project):
                raise FitConflict(
                    "A fit of this project is already running; wait for it or cancel it."
                )
            stamp = time.strftime("%Y%m%d-%H%M%S")
            out = project.folder / "models" / stamp
            while out.exists():  # two fits in one second
                stamp += "b"
                out = project.folder / "models" / stamp
            log = project.folder / "fit.log"
            events = project.folder / EVENTS_FILE
            events.write_text("")
            # written before the fit, so that its rows are known once its model appears
            atomic_write(rows_file(out), json.dumps(rows))
            with open(log, "w") as sink:
                process = subprocess.Popen(
                    [*command, "--out", str(out)],
                    cwd=project.folder,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    env=os.environ | {"SMALLFIT_QUIET": "1", "SMALLFIT_PROGRESS_FILE": str(events)},
                    start_new_session=True,  # its own process group, stopped as one
                )
            self.running[project.slug] = process
            state = {
                "state": "running",
                "model": stamp,
                "pid": process.pid,
                "started": time.time(),
                "settings": settings,
            }
            write_state(project, state)
        watch = (project, process, state)
        threading.Thread(target=self._watch, args=watch, daemon=True).start()
        return state

    def cancel(self, project: Project) -> dict[str, Any]:
        with self.lock:
            process = self.running.get(project.slug)
            if process is None or process.poll() is not None:
                raise FitConflict("No fit of this project is running.")
            write_state(project, read_state(project) | {"state": "cancelling"})
            os.killpg(process.pid, signal.SIGTERM)
        return read_state(project)

    def status(self, project: Project) -> dict[str, Any]:
        """The last fit's state (none, running, done, failed, cancelled, interrupted),
        with its elapsed seconds and, while it runs or when it failed, its output's end."""
        state = read_state(project)
        if state.get("state") in ("running", "cancelling") and not self._alive(project):
            stop_orphan(state)  # started by a server that has stopped: no one watches it
            state = state | {"state": "interrupted", "ended": time.time()}
            write_state(project, state)
        if "started" in state:
            end = state.get("ended", time.time())
            state["seconds"] = round(end - state["started"], 1)
        if state.get("state") in ("running", "failed", "cancelling"):
            state["log"] = log_tail(project)
        return state | progress_of(project)

    def _alive(self, project: Project) -> bool:
        process = self.running.get(project.slug)
        return process is not None and process.poll() is None

    def _watch(self, project: Project, process: subprocess.Popen, state: dict) -> None:
        code = process.wait()
        model = project.folder / "models" / state["model"]
        if not (model / "model.json").is_file():
            rows_file(model).unlink(missing_ok=True)
        with self.lock:
            cancelled = read_state(project).get("state") == "cancelling"
            ended = {"ended": time.time(), "exit_code": code}
            if cancelled:
                outcome = "cancelled"
            elif code == 0:
                outcome = "done"
            else:
                outcome = "failed"
            write_state(project, state | ended | {"state": outcome})
            self.running.pop(project.slug, None)

    def stop_all(self) -> None:
        """Stop every running fit (the server is shutting down)."""
        with self.lock:
            for process in self.running.values():
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)


def rows_file(model: Path) -> Path:
    """Beside a model folder fitted by the app: which example each training row was, and
    its class then (the fit itself knows only rows)."""
    return model.with_name(model.name + ".rows.json")


def fit_command(table: Path, settings: dict[str, Any]) -> list[str]:
    """The `smallfit fit` command line for `table` and `settings`, checked before
    anything starts."""
    command = [sys.executable, "-m", "smallfit", "fit", str(table.name)]
    unknown = set(settings) - {"strategy", "preset", "time_budget", "seed"}
    if unknown:
        raise SmallfitError(f"Unknown fit setting {sorted(unknown)[0]!r}.")
    if settings.get("strategy"):
        from smallfit import strategies

        if settings["strategy"] not in strategies.names():
            raise SmallfitError(
                f"Unknown strategy {settings['strategy']!r}; choose from "
                f"{', '.join(strategies.names())}."
            )
        command += ["--strategy", settings["strategy"]]
    if settings.get("preset"):
        if settings["preset"] not in PRESETS:
            raise SmallfitError(f"Unknown preset {settings['preset']!r}; choose from {PRESETS}.")
        command += ["--preset", settings["preset"]]
    if settings.get("time_budget"):
        seconds = float(settings["time_budget"])
        if not 1 <= seconds <= 24 * 3600:
            raise SmallfitError("The time budget must be between 1 second and 24 hours.")
        command += ["--time-budget", f"{seconds:g}s"]
    if settings.get("seed") is not None:
        command += ["--seed", str(int(settings["seed"]))]
    return command


def stop_orphan(state: dict[str, Any]) -> None:
    """Stop the fit process of `state` if it still runs (known by its pid and the model
    folder on its command line, so a recycled pid is left alone)."""
    pid, stamp = state.get("pid"), state.get("model")
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return  # gone (or no /proc: nothing to check it by)
    if stamp and f"models/{stamp}" in command and "smallfit" in command:
        os.killpg(pid, signal.SIGTERM)


def progress_of(project: Project) -> dict[str, Any]:
    """The last fit's progress: its latest stage (what runs, how far, the time it
    projects to need) and the candidates scored so far."""
    path = project.folder / EVENTS_FILE
    stage, candidates = None, []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written
            if event["kind"] == "stage":
                stage = {k: event[k] for k in ("stage", "done", "total", "seconds_left")}
            elif event["kind"] == "candidate":
                candidates.append({k: event[k] for k in ("candidate", "accuracy")})
    return {"stage": stage, "leaderboard": candidates}


def read_state(project: Project) -> dict[str, Any]:
    path = project.folder / "fit.json"
    return json.loads(path.read_text()) if path.is_file() else {"state": "none"}


def write_state(project: Project, state: dict[str, Any]) -> None:
    atomic_write(project.folder / "fit.json", json.dumps(state, indent=2))


def log_tail(project: Project) -> str:
    path: Path = project.folder / "fit.log"
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-LOG_LINES:])
