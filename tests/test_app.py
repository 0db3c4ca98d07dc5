"""The local web app's API: the whole loop on images and texts (create, upload, train,
read the estimate, try, download and load), and what keeps the server for its user
(host and origin checks, the token, paths kept inside the workspace, refused uploads)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

import smallfit
from smallfit.app.jobs import Jobs, write_state
from smallfit.app.server import create_app
from smallfit.app.workspace import Workspace
from smallfit.errors import SmallfitError
from tests.conftest import COLOURS, TEXTS, make_image

HOSTS = {"testserver"}


def png(colour, seed: int) -> bytes:
    buffer = io.BytesIO()
    make_image(colour, seed).save(buffer, format="PNG")
    return buffer.getvalue()


def wait_for_fit(client: TestClient, slug: str, seconds: float = 300) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = client.get(f"/api/projects/{slug}/fit").json()
        if state["state"] not in ("running", "cancelling"):
            return state
        time.sleep(0.5)
    raise AssertionError("the fit did not end in time")


def test_the_whole_loop_on_images(tmp_path):
    client = TestClient(create_app(tmp_path / "ws", HOSTS))
    made = client.post("/api/projects", json={"name": "Colour photos"})
    assert made.status_code == 201
    slug = made.json()["slug"]
    assert slug == "colour_photos"
    for index, (name, colour) in enumerate(COLOURS.items()):
        files = [("files", (f"{name}{k}.png", png(colour, 10 * index + k))) for k in range(8)]
        sent = client.post(f"/api/projects/{slug}/files", data={"label": name}, files=files)
        assert sent.status_code == 201, sent.text
    project = client.get(f"/api/projects/{slug}").json()
    assert project["modality"] == "image"
    assert {c: v["count"] for c, v in project["classes"].items()} == dict.fromkeys(COLOURS, 8)
    first = project["items"][0]["id"]
    shown = client.get(f"/api/projects/{slug}/items/{first}/file")
    assert shown.status_code == 200 and shown.content[:4] == b"\x89PNG"

    started = client.post(f"/api/projects/{slug}/fit", json={"strategy": "probe", "seed": 1})
    assert started.status_code == 202, started.text
    again = client.post(f"/api/projects/{slug}/fit", json={"strategy": "probe"})
    assert again.status_code == 409 and "already running" in again.json()["detail"]
    state = wait_for_fit(client, slug)
    assert state["state"] == "done", state
    stamp = state["model"]

    details = client.get(f"/api/projects/{slug}/models/{stamp}").json()
    assert details["estimate"]["low"] <= details["estimate"]["value"] <= details["estimate"]["high"]
    assert details["estimate"]["value"] >= 0.8
    assert np.array(details["confusion_matrix"]).sum() == 24
    cells = {
        (actual, predicted): client.get(
            f"/api/projects/{slug}/models/{stamp}/cell",
            params={"actual": actual, "predicted": predicted},
        ).json()["items"]
        for actual in COLOURS
        for predicted in COLOURS
    }
    classes = details["classes"]
    for (actual, predicted), items in cells.items():  # each cell holds its count of items
        count = details["confusion_matrix"][classes.index(actual)][classes.index(predicted)]
        assert len(items) == count
    assert sum(map(len, cells.values())) == 24
    report = client.get(f"/api/projects/{slug}/models/{stamp}/report")
    assert report.status_code == 200 and "<html" in report.text.lower()

    tried = client.post(
        f"/api/projects/{slug}/models/{stamp}/predict/files",
        files=[("files", ("new.png", png(COLOURS["green"], 999)))],
    ).json()
    assert tried["predictions"][0]["label"] == "green"
    assert sum(tried["predictions"][0]["probabilities"].values()) == pytest.approx(1.0)

    onnx = client.get(f"/api/projects/{slug}/models/{stamp}/onnx")
    assert onnx.status_code == 200, onnx.text
    names = zipfile.ZipFile(io.BytesIO(onnx.content)).namelist()
    assert f"{stamp}.onnx/model.onnx" in names and f"{stamp}.onnx/model.onnx.json" in names
    archive = client.get(f"/api/projects/{slug}/models/{stamp}/download")
    assert archive.headers["content-type"] == "application/zip"
    zipfile.ZipFile(io.BytesIO(archive.content)).extractall(tmp_path / "unzipped")
    model = smallfit.load(tmp_path / "unzipped" / stamp)
    image = tmp_path / "new.png"
    image.write_bytes(png(COLOURS["green"], 999))
    expected = tried["predictions"][0]["probabilities"]["green"]
    assert model.predict_proba([image])[0][model.classes.index("green")] == pytest.approx(expected)


def test_examples_are_moved_excluded_restored_and_classes_merged(tmp_path):
    client = TestClient(create_app(tmp_path / "ws", HOSTS))
    slug = client.post("/api/projects", json={"name": "notes"}).json()["slug"]
    for label, texts in TEXTS.items():
        sent = client.post(f"/api/projects/{slug}/texts", json={"label": label, "texts": texts})
        assert sent.status_code == 201
    items = client.get(f"/api/projects/{slug}").json()["items"]
    ids = [i["id"] for i in items if i["label"] == "sport"][:2]
    changed = client.patch(f"/api/projects/{slug}/items", json={"ids": ids, "excluded": True})
    assert changed.json()["classes"]["sport"] == {"count": 6, "excluded": 2}
    client.patch(f"/api/projects/{slug}/items", json={"ids": ids[:1], "excluded": False})
    moved = client.patch(f"/api/projects/{slug}/items", json={"ids": ids[:1], "label": "cooking"})
    assert moved.json()["classes"]["cooking"]["count"] == 7
    merged = client.post(
        f"/api/projects/{slug}/classes/rename", json={"old": "finance", "new": "cooking"}
    )
    assert set(merged.json()["classes"]) == {"sport", "cooking"}
    table = (tmp_path / "ws" / slug / "items.csv").read_text()
    assert "The stock market closed higher on Friday." in table  # nothing deleted
    table, rows = Workspace(tmp_path / "ws").project(slug).training_table()
    train = table.read_text()
    assert len(rows["ids"]) == 17 and rows["labels"].count("cooking") == 13
    assert train.count("\n") == 1 + 18 - 1  # header + all but the one still excluded
    refused = client.post(
        f"/api/projects/{slug}/files",
        data={"label": "x"},
        files=[("files", ("a.png", png(COLOURS["red"], 1)))],
    )
    assert refused.status_code == 422 and "holds text examples" in refused.json()["detail"]


def test_a_folder_inside_the_workspace_is_imported_as_copies(tmp_path, image_folder):
    shutil.copytree(image_folder, tmp_path / "ws" / "incoming")
    client = TestClient(create_app(tmp_path / "ws", HOSTS))
    slug = client.post("/api/projects", json={"name": "imported"}).json()["slug"]
    done = client.post(f"/api/projects/{slug}/import", json={"folder": "incoming"})
    assert done.status_code == 201, done.text
    assert {c: v["count"] for c, v in done.json()["classes"].items()} == dict.fromkeys(COLOURS, 6)
    assert len(list((tmp_path / "ws" / "incoming").rglob("*.png"))) == 18  # left in place
    assert len(list((tmp_path / "ws" / slug / "files").iterdir())) == 18


def test_texts_train_and_are_tried(tmp_path):
    client = TestClient(create_app(tmp_path / "ws", HOSTS))
    slug = client.post("/api/projects", json={"name": "topics"}).json()["slug"]
    for label, texts in TEXTS.items():
        client.post(f"/api/projects/{slug}/texts", json={"label": label, "texts": texts})
    client.post(f"/api/projects/{slug}/fit", json={"strategy": "prototype"})
    states, versions = [], []  # the project, streamed as server-sent events
    with client.stream("GET", f"/api/projects/{slug}/events") as stream:
        lines = stream.iter_lines()
        for line in lines:
            if line == "event: project":
                versions.append(json.loads(next(lines)[6:]))
            elif line.startswith("data: "):
                states.append(json.loads(line[6:]))
            if states and states[-1]["state"] == "done" and versions[-1]["models"]:
                break  # the stream goes on while a page shows the project
    state = states[-1]
    assert versions[0]["models"] == "" and versions[-1]["models"] == state["model"]
    assert state["state"] == "done", state
    assert any(s["state"] == "running" and s["stage"] for s in states)  # stages as they ran
    assert [row["candidate"] for row in state["leaderboard"]] == ["prototype"]
    assert 0 <= state["leaderboard"][0]["accuracy"]["value"] <= 1
    tried = client.post(
        f"/api/projects/{slug}/models/{state['model']}/predict/texts",
        json={"texts": ["The bank cut its interest rates again."]},
    ).json()
    assert tried["predictions"][0]["label"] == "finance"


def test_a_table_of_texts_is_uploaded_and_a_table_without_texts_refused(tmp_path):
    client = TestClient(create_app(tmp_path / "ws", HOSTS))
    slug = client.post("/api/projects", json={"name": "csv"}).json()["slug"]
    rows = [(text, label) for label, texts in TEXTS.items() for text in texts]
    table = "text,label\n" + "".join(f'"{t}",{y}\n' for t, y in rows)
    added = client.post(f"/api/projects/{slug}/table", files={"file": ("t.csv", table.encode())})
    assert added.status_code == 201 and added.json()["added"] == 18
    assert {c: v["count"] for c, v in added.json()["classes"].items()} == dict.fromkeys(TEXTS, 6)
    numbers = client.post(
        f"/api/projects/{slug}/table", files={"file": ("n.csv", b"a,b,label\n1,2,x\n3,4,y\n")}
    )
    assert numbers.status_code == 422 and "n.csv" in numbers.json()["detail"]
    other = client.post(f"/api/projects/{slug}/table", files={"file": ("t.txt", b"hello")})
    assert other.status_code == 415 and "t.txt is not a table" in other.json()["detail"]
    assert len(client.get(f"/api/projects/{slug}").json()["items"]) == 18  # nothing else


def test_uploads_that_are_not_images_or_sounds_are_refused_by_name(tmp_path):
    client = TestClient(create_app(tmp_path / "ws", HOSTS))
    slug = client.post("/api/projects", json={"name": "p"}).json()["slug"]
    notes = client.post(
        f"/api/projects/{slug}/files",
        data={"label": "a"},
        files=[("files", ("notes.txt", b"hello"))],
    )
    assert notes.status_code == 415 and "notes.txt is not a file the app takes" in notes.text
    fake = client.post(
        f"/api/projects/{slug}/files",
        data={"label": "a"},
        files=[("files", ("photo.png", b"not really a png"))],
    )
    assert fake.status_code in (415, 422) and "photo.png" in fake.json()["detail"]
    assert not any((tmp_path / "ws" / slug / "files").iterdir())  # nothing kept


def test_host_origin_and_token_checks(tmp_path):
    client = TestClient(create_app(tmp_path / "ws", HOSTS))
    assert client.get("/api/projects", headers={"host": "evil.example"}).status_code == 421
    cross = client.post(
        "/api/projects", json={"name": "x"}, headers={"origin": "http://evil.example"}
    )
    assert cross.status_code == 403
    same = client.post("/api/projects", json={"name": "x"}, headers={"origin": "http://testserver"})
    assert same.status_code == 201

    locked = TestClient(create_app(tmp_path / "ws", HOSTS, token="s3cret"))
    assert locked.get("/api/projects").status_code == 401
    assert locked.get("/api/projects", headers={"authorization": "Bearer wrong"}).status_code == 401
    assert (
        locked.get("/api/projects", headers={"authorization": "Bearer s3cret"}).status_code == 200
    )
    opened = locked.get("/?token=s3cret", follow_redirects=False)
    assert opened.status_code == 303 and "smallfit_token=s3cret" in opened.headers["set-cookie"]
    assert locked.get("/api/projects").status_code == 200  # the cookie now carries it


def test_no_path_outside_the_workspace_is_reached(tmp_path):
    space = Workspace(tmp_path / "ws")
    project = space.create("p")
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    with pytest.raises(SmallfitError, match="outside the workspace"):
        space.inside(Path("../secret.txt"))
    with pytest.raises(SmallfitError, match="outside the workspace"):
        space.inside(outside)
    (project.folder / "files" / "link.png").symlink_to(outside)
    with pytest.raises(SmallfitError, match="symbolic link"):
        space.inside(project.folder / "files" / "link.png")
    client = TestClient(create_app(tmp_path / "ws", HOSTS))
    for folder in ("../", str(tmp_path), "p/files"):
        refused = client.post("/api/projects/p/import", json={"folder": folder})
        assert refused.status_code in (404, 422), refused.text
    for slug in ("..", "..%2F..", "%2Fetc", "p%2F..%2F.."):
        assert client.get(f"/api/projects/{slug}").status_code == 404
    assert client.get("/api/projects/p/models/..%2F..%2Fsecret.txt").status_code == 404
    assert client.get("/api/projects/p/items/nope/file").status_code == 404
    assert client.delete("/api/projects/p").status_code == 400  # asks for confirmation
    assert client.delete("/api/projects/p?confirm=p").status_code == 200
    assert outside.read_text() == "secret"


def test_a_fit_the_server_did_not_see_end_is_marked_interrupted(tmp_path):
    space = Workspace(tmp_path / "ws")
    project = space.create("p")
    kept = project.folder / "models" / "20260101-000000"
    kept.mkdir()
    (kept / "model.json").write_text(json.dumps({"strategy": "probe"}))
    # the fit process of a server that was killed: it outlived it
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "smallfit", "models/20260102-x"],
        start_new_session=True,
    )
    cmdline = Path(f"/proc/{orphan.pid}/cmdline")
    while b"models/" not in cmdline.read_bytes():  # until the fork has become the command
        time.sleep(0.05)
    started = {"state": "running", "model": "20260102-x", "pid": orphan.pid, "started": 0}
    write_state(project, started)
    state = Jobs().status(project)  # a new server: it started no fit
    assert state["state"] == "interrupted"
    assert orphan.wait(timeout=10) == -15  # stopped, not left to write a model later
    assert project.models() == [kept]
    # a pid now used by another process is left alone
    write_state(project, started | {"pid": os.getpid()})
    assert Jobs().status(project)["state"] == "interrupted"


def test_the_labelling_queue_suggests_unlabelled_examples_and_labels_are_undone(tmp_path):
    client = TestClient(create_app(tmp_path / "ws", HOSTS))
    slug = client.post("/api/projects", json={"name": "queue"}).json()["slug"]
    for label, texts in TEXTS.items():
        client.post(f"/api/projects/{slug}/texts", json={"label": label, "texts": texts[:4]})
    later = [text for texts in TEXTS.values() for text in texts[4:]]
    client.post(f"/api/projects/{slug}/texts", json={"texts": later})  # no class yet
    project = client.get(f"/api/projects/{slug}").json()
    assert project["unlabeled"] == 6 and sum(c["count"] for c in project["classes"].values()) == 12
    assert client.get(f"/api/projects/{slug}/queue").status_code == 409  # no model yet
    client.post(f"/api/projects/{slug}/fit", json={"strategy": "prototype"})
    assert wait_for_fit(client, slug)["state"] == "done"
    queue = client.get(f"/api/projects/{slug}/queue", params={"n": 4}).json()["items"]
    assert len(queue) == 4 and {item["text"] for item in queue} <= set(later)
    assert all(item["guess"] in TEXTS and 0 < item["confidence"] <= 1 for item in queue)
    first = queue[0]["id"]
    client.patch(f"/api/projects/{slug}/items", json={"ids": [first], "label": "sport"})
    assert client.get(f"/api/projects/{slug}").json()["unlabeled"] == 5
    client.patch(f"/api/projects/{slug}/items", json={"ids": [first], "unlabel": True})
    assert client.get(f"/api/projects/{slug}").json()["unlabeled"] == 6


def test_the_doctors_findings_name_the_examples_to_exclude(tmp_path):
    client = TestClient(create_app(tmp_path / "ws", HOSTS))
    slug = client.post("/api/projects", json={"name": "doctor"}).json()["slug"]
    for label, texts in TEXTS.items():
        client.post(f"/api/projects/{slug}/texts", json={"label": label, "texts": texts})
    twice = TEXTS["sport"][0]
    client.post(f"/api/projects/{slug}/texts", json={"label": "cooking", "texts": [twice]})
    client.post(f"/api/projects/{slug}/fit", json={"strategy": "prototype"})
    stamp = wait_for_fit(client, slug)["model"]
    findings = client.get(f"/api/projects/{slug}/models/{stamp}").json()["findings"]
    (conflict,) = [f for f in findings if f["kind"] == "conflicting_labels"]
    items = client.get(f"/api/projects/{slug}").json()["items"]
    same = {i["id"] for i in items if i["text"] == twice}
    assert set(conflict["ids"]) == same and len(same) == 2
    assert set(conflict["predicted"]) <= set(TEXTS)  # each one's class out of fold
    client.patch(f"/api/projects/{slug}/items", json={"ids": conflict["ids"][1:], "excluded": True})
    assert client.get(f"/api/projects/{slug}").json()["classes"]["cooking"]["excluded"] == 1


def test_the_map_places_every_training_example_and_moves_one(tmp_path):
    client = TestClient(create_app(tmp_path / "ws", HOSTS))
    slug = client.post("/api/projects", json={"name": "map"}).json()["slug"]
    for label, texts in TEXTS.items():
        client.post(f"/api/projects/{slug}/texts", json={"label": label, "texts": texts})
    client.post(f"/api/projects/{slug}/fit", json={"strategy": "prototype"})
    stamp = wait_for_fit(client, slug)["model"]
    points = client.get(f"/api/projects/{slug}/models/{stamp}/map").json()["points"]
    assert len(points) == 18 and len({(p["x"], p["y"]) for p in points}) == 18
    centres = {
        label: np.mean([[p["x"], p["y"]] for p in points if p["label"] == label], axis=0)
        for label in TEXTS
    }
    spread = np.mean(
        [np.hypot(p["x"] - centres[p["label"]][0], p["y"] - centres[p["label"]][1]) for p in points]
    )
    apart = np.mean([np.hypot(*(centres[a] - centres[b])) for a in TEXTS for b in TEXTS if a < b])
    assert apart > spread  # the topics form clusters on the map
    moved = points[0]["id"]
    client.patch(f"/api/projects/{slug}/items", json={"ids": [moved], "label": "finance"})
    again = client.get(f"/api/projects/{slug}/models/{stamp}/map").json()["points"]
    (point,) = [p for p in again if p["id"] == moved]
    assert point["now"] == "finance" and point["label"] == points[0]["label"]
