#!/usr/bin/env python
"""Load test of `smallfit serve` (used by `python benchmarks/run.py serve`): start it as a
real process on a free localhost port, send a bounded number of requests with a fixed
number in flight, stop it.

A request is *answered* when it gets status 200 with one prediction for the item name it
sent (so answers cannot be swapped between concurrent requests), *failed* when it gets
any other response, and *lost* when it gets none (timeout, dropped connection). The
server's access log is counted too, as a check from the other side.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(model_dir: Path, port: int, log: Path, timeout: float = 300) -> subprocess.Popen:
    """`smallfit serve` in a new process; returns once /health answers (or raises)."""
    env = {**os.environ, "SMALLFIT_QUIET": "1"}
    command = [sys.executable, "-m", "smallfit", "serve", str(model_dir), "--port", str(port)]
    server = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(
                f"smallfit serve exited with {server.returncode}:\n{log.read_text()}"
            )
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    stop_server(server)
    raise RuntimeError(f"smallfit serve did not answer within {timeout} s:\n{log.read_text()}")


def stop_server(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGINT)  # uvicorn finishes open requests, then exits
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


async def fire(url: str, requests: list[dict], concurrency: int, timeout: float) -> list[dict]:
    """Send every request (httpx keyword arguments plus the expected `item`), at most
    `concurrency` at once; one outcome per request, in order."""
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def one(client: httpx.AsyncClient, request: dict) -> dict:
        expected = request["item"]
        async with gate:
            tic = time.perf_counter()
            try:
                response = await client.post(url, **request["send"])
            except httpx.HTTPError as error:
                return {"outcome": "lost", "why": type(error).__name__}
            seconds = time.perf_counter() - tic
        if response.status_code != 200:
            return {"outcome": "failed", "why": f"HTTP {response.status_code}"}
        predictions = response.json()["predictions"]
        if len(predictions) != 1 or predictions[0]["item"] != expected:
            return {"outcome": "failed", "why": "answer for another item"}
        return {"outcome": "answered", "label": predictions[0]["label"], "seconds": seconds}

    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        return await asyncio.gather(*(one(client, r) for r in requests))


def run_load(
    model_dir: Path,
    requests: list[dict],
    concurrency: int,
    work_dir: Path,
    timeout: float = 120,
) -> dict:
    """Serve `model_dir`, send `requests`, stop the server; counts, throughput, latencies."""
    port = free_port()
    log = work_dir / f"serve-{port}.log"
    tic = time.perf_counter()
    server = start_server(model_dir, port, log)
    startup = time.perf_counter() - tic
    try:
        load_before = os.getloadavg()[0]
        tic = time.perf_counter()
        outcomes = asyncio.run(
            fire(f"http://127.0.0.1:{port}/predict", requests, concurrency, timeout)
        )
        wall = time.perf_counter() - tic
        load_after = os.getloadavg()[0]
    finally:
        stop_server(server)
    logged = len(re.findall(r'"POST /predict HTTP/1.1" 200', log.read_text()))
    answered = [o for o in outcomes if o["outcome"] == "answered"]
    problems: dict[str, int] = {}
    for outcome in outcomes:
        if outcome["outcome"] != "answered":
            problems[outcome["why"]] = problems.get(outcome["why"], 0) + 1
    latencies = np.array([o["seconds"] for o in answered] or [np.nan]) * 1000
    return {
        "requests": len(requests),
        "concurrency": concurrency,
        "answered": len(answered),
        "failed": sum(o["outcome"] == "failed" for o in outcomes),
        "lost": sum(o["outcome"] == "lost" for o in outcomes),
        "problems": problems,
        "server_logged_200": logged,
        "wall_seconds": wall,
        "throughput_per_s": len(answered) / wall,
        "latency_ms": {
            "p50": float(np.percentile(latencies, 50)),
            "p90": float(np.percentile(latencies, 90)),
            "p99": float(np.percentile(latencies, 99)),
            "max": float(np.max(latencies)),
        },
        "server_startup_seconds": startup,
        # The machine's 1-minute load average (other jobs included): on 2 cores, above 2
        # means the server shared the CPU, and its times are slower than on an idle machine.
        "load_average": {"before": load_before, "after": load_after},
        "labels": [o.get("label") for o in outcomes],
    }


def image_request(index: int, png: bytes) -> dict:
    name = f"{index}.png"
    return {"item": name, "send": {"files": [("files", (name, png, "image/png"))]}}


def text_request(text: str) -> dict:
    return {"item": "texts[0]", "send": {"json": {"texts": [text]}}}
