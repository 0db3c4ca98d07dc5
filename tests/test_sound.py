"""Sounds: reading audio files (and refusing bad ones by name), both pretrained encoders
in the default comparison, and the fit / predict / evaluate / serve path."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile", reason="the audio extra is not installed")

import smallfit  # noqa: E402
from smallfit import api, backbones  # noqa: E402
from smallfit.data.audio import Sound, check_readable, decode  # noqa: E402
from smallfit.errors import SmallfitError  # noqa: E402
from tests.cli_runner import run  # noqa: E402

needs_encoders = pytest.mark.skipif(
    not (backbones.available("speech_embedding") and backbones.available("aisfx")),
    reason="openwakeword 0.5.1 and aisfx are not installed",
)


def make_sound(kind: str, seed: int, rate: int = 16000) -> np.ndarray:
    """A steady tone, a rising chirp or noise bursts, of random pitch and length, in noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * rng.uniform(0.8, 1.6))) / rate
    pitch = rng.uniform(300, 900)
    if kind == "tone":
        wave = np.sin(2 * np.pi * pitch * t)
    elif kind == "chirp":
        wave = np.sin(2 * np.pi * (pitch + 2 * pitch * t / t[-1]) * t)
    else:
        wave = rng.standard_normal(t.size) * (np.sin(2 * np.pi * 4 * t) > 0)
    wave = 0.3 * wave / np.abs(wave).max() + 0.01 * rng.standard_normal(t.size)
    return wave.astype(np.float32)


def write_folder(root: Path, per_class: int, first_seed: int) -> Path:
    """root/<kind>/*.wav (or .flac), half at 16 kHz and half at 22.05 kHz."""
    for index, kind in enumerate(("tone", "chirp", "bursts")):
        (root / kind).mkdir(parents=True)
        for k in range(per_class):
            rate = 16000 if k % 2 else 22050
            suffix = ".flac" if k % 3 == 0 else ".wav"
            seed = first_seed + 100 * index + k
            sf.write(root / kind / f"{kind}{k}{suffix}", make_sound(kind, seed, rate), rate)
    return root


def hiss_folder(folder: Path) -> Path:
    """folder/hiss0.wav ... hiss5.wav: a second of hiss each (background items)."""
    folder.mkdir()
    rng = np.random.default_rng(7)
    for k in range(6):
        sf.write(folder / f"hiss{k}.wav", (0.05 * rng.standard_normal(16000)).astype("f4"), 16000)
    return folder


@pytest.fixture(scope="module")
def sound_folders(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("sounds")
    return write_folder(base / "train", 8, 0), write_folder(base / "test", 5, 5000)


def test_bad_files_are_named_with_what_is_wrong(tmp_path):
    good = tmp_path / "good.wav"
    sf.write(good, make_sound("tone", 0), 16000)
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[:2000])
    fake = tmp_path / "fake.mp3"
    fake.write_text("not a sound at all")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    bad = check_readable([good, truncated, fake, empty])
    assert len(bad) == 3
    assert bad[0].startswith(f"{truncated}: truncated")
    assert bad[1].startswith(f"{fake}: not a readable sound")
    assert bad[2] == f"{empty}: holds no samples"


def test_a_folder_with_a_bad_file_is_refused_by_the_cli_naming_it(tmp_path):
    root = write_folder(tmp_path / "data", 3, 0)
    (root / "tone" / "broken.wav").write_bytes(b"RIFF....WAVEfmt ")
    code, output = run("fit", root, "--out", tmp_path / "model")
    assert code == 2
    assert "broken.wav" in output and "cannot be used" in output
    assert (root / "tone" / "broken.wav").read_bytes() == b"RIFF....WAVEfmt "  # untouched


def test_a_folder_mixing_images_and_sounds_is_refused(tmp_path, image_folder):
    root = write_folder(tmp_path / "data", 2, 0)
    (root / "tone" / "photo.png").write_bytes((image_folder / "red" / "red_0.png").read_bytes())
    with pytest.raises(SmallfitError, match="holds images and sounds"):
        api.fit(root)


def test_decoding_mixes_down_to_mono_and_resamples():
    stereo = np.stack([make_sound("tone", 1, 22050)] * 2, axis=1)
    buffer = io.BytesIO()
    sf.write(buffer, stereo, 22050, format="WAV", subtype="PCM_16")
    sound = decode(buffer.getvalue())
    assert sound.rate == 22050 and sound.samples.ndim == 1
    assert np.allclose(sound.samples, stereo[:, 0], atol=1e-3)
    from smallfit.data.audio import load_sound

    assert load_sound(sound, 16000).size == round(sound.samples.size * 16000 / 22050)


@needs_encoders
def test_default_fit_compares_both_encoders_and_mfcc_and_predicts_held_out_sounds(
    sound_folders, tmp_path
):
    train, test = sound_folders
    model = api.fit(train, seed=0)
    labels = {row["candidate"] for row in model.info["candidates"]}
    assert {
        "probe@speech_embedding",
        "probe[copies=2]@speech_embedding",
        "probe@aisfx",
        "probe[copies=2]@aisfx",
        "classic",
    } <= labels
    assert {row["backbone"] for row in model.info["candidates"]} >= {
        "speech_embedding",
        "aisfx",
        "mfcc",
    }
    report = api.evaluate_model(model, test)
    assert report["accuracy"]["value"] >= 0.8
    model.save(tmp_path / "model")
    loaded = smallfit.load(tmp_path / "model")
    files = sorted((test / "chirp").iterdir())[:2]
    in_memory = [decode(f) for f in files]
    assert np.allclose(loaded.predict_proba(files), loaded.predict_proba(in_memory), atol=1e-5)


@needs_encoders
def test_the_sound_event_weights_are_read_from_a_safetensors_copy():
    from smallfit.backbones.audio import EVENTS_CHECKPOINT, SoundEventEncoder, package_file
    from smallfit.backbones.base import weights_digest
    from smallfit.backbones.cache import cache_dir

    SoundEventEncoder()
    checkpoint = package_file("aisfx", EVENTS_CHECKPOINT)
    copy = cache_dir() / "weights" / f"aisfx-{weights_digest(checkpoint)}.safetensors"
    from safetensors.torch import load_file

    tensors = load_file(str(copy))
    assert tensors["conv_block4.conv2.weight"].shape == (512, 512, 3, 3)
    assert len(tensors) == 4 * 12  # 2 convolutions and 2 batch norms (5 tensors) per block


@needs_encoders
def test_a_served_model_takes_an_uploaded_sound_and_refuses_a_non_sound(sound_folders, tmp_path):
    from fastapi.testclient import TestClient

    from smallfit.serve import create_app

    train, _ = sound_folders
    api.fit(train, strategy="probe", seed=0).save(tmp_path / "model")
    client = TestClient(create_app(tmp_path / "model"))
    wav = next((train / "tone").glob("*.wav")).read_bytes()
    answer = client.post("/predict", files=[("files", ("a.wav", wav, "audio/wav"))])
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["label"] == "tone"
    refused = client.post("/predict", files=[("files", ("b.wav", b"hello", "audio/wav"))])
    assert refused.status_code == 422 and "b.wav" in refused.text


def test_backbones_lists_each_encoders_licence(monkeypatch):
    from smallfit.cli.display import out

    monkeypatch.setattr(out, "_width", 300)
    code, output = run("backbones")
    assert code == 0
    rows = [line.split("│") for line in output.splitlines() if "│" in line]
    licences = {cells[1].split()[0]: cells[-2] for cells in rows}
    assert "CC BY-NC-SA 4.0" in licences["speech_embedding"]
    assert "CC BY 4.0" in licences["aisfx"]
    assert "none (no weights)" in licences["mfcc"]


def test_sound_objects_are_checked():
    with pytest.raises(SmallfitError, match="non-empty 1-D"):
        Sound(np.zeros((2, 2), np.float32), 16000)
    with pytest.raises(SmallfitError, match="positive integer"):
        Sound(np.zeros(10, np.float32), 0)


@needs_encoders
def test_background_items_become_a_class_and_its_absence_is_noted(sound_folders, tmp_path):
    train, _ = sound_folders
    without = api.fit(train, strategy="prototype", seed=0)
    assert any("--background DIR" in note for note in without.info["training_notes"])
    noise = hiss_folder(tmp_path / "noise")
    model = api.fit(train, strategy="prototype", seed=0, background=noise)
    assert model.classes == ["background", "bursts", "chirp", "tone"]
    assert "training_notes" not in model.info
    from smallfit.report.html import render_report

    page = render_report(model, [], [])
    assert "false accepts (of 6 background)" in page and "<b>chirp</b>" in page
    assert "<svg class=wave" in page and '<audio controls preload=none src="data:audio/' in page
    assert sorted(p.name for p in noise.iterdir()) == [f"hiss{k}.wav" for k in range(6)]


@needs_encoders
def test_the_doctor_finds_silent_and_clipped_recordings(tmp_path):
    from smallfit.doctor import doctor

    root = write_folder(tmp_path / "data", 4, 0)
    sf.write(root / "tone" / "quiet.wav", np.zeros(16000, np.float32), 16000)
    loud = np.clip(5 * make_sound("chirp", 9), -1, 1)
    sf.write(root / "chirp" / "loud.wav", loud, 16000)
    found = doctor(root)
    faulty = found[found.kind == "faulty_signal"]
    assert len(faulty) == 2
    details = " ".join(faulty.detail)
    assert "quiet.wav (tone): silent" in details and "loud.wav (chirp): clipped" in details


def test_augmented_copies_are_the_same_in_every_fold_and_differ_from_their_source(tmp_path):
    from smallfit.augment.sound import augmented_sounds
    from smallfit.data.audio import load_sound
    from smallfit.data.identity import item_key

    root = write_folder(tmp_path / "data", 2, 0)
    files = sorted(root.rglob("*.wav"))[:3]
    first = augmented_sounds(files, 2, seed=0)
    again = augmented_sounds(files[1:], 2, seed=0)  # another fold: fewer items
    assert len(first) == 6 and len(again) == 4
    assert item_key(first[1]) == item_key(again[0])  # the same copy of the same file
    assert np.array_equal(load_sound(first[1], 16000), load_sound(again[0], 16000))
    assert item_key(first[0]) != item_key(augmented_sounds(files, 2, seed=1)[0])
    changed = [
        not np.array_equal(load_sound(c, 16000), load_sound(f, 16000))
        for c, f in zip(first, files * 2, strict=True)
    ]
    assert sum(changed) >= 4  # each transform has probability 1/2: most copies differ


def test_synthetic_reverb_decays_by_its_rt60_and_keeps_the_clips_length_and_peak():
    from smallfit.augment.reverb import SyntheticReverb, impulse_response
    from smallfit.augment.sound import seeded

    rate = 16000
    with seeded(0):
        response = impulse_response(rate, rt60=0.5, direct_to_reverb_db=6.0)
    tail = response[1:]
    assert 10 * np.log10(np.sum(tail**2)) == pytest.approx(-6.0, abs=0.01)
    early = np.sum(tail[: rate // 10] ** 2)  # the tail's first 0.1 s
    late = np.sum(tail[rate // 4 : rate // 4 + rate // 10] ** 2)  # 0.25 s later: 30 dB down
    assert 10 * np.log10(early / late) == pytest.approx(30.0, abs=3.0)

    clip = make_sound("chirp", 3)
    with seeded(1):
        wet = SyntheticReverb(p=1.0)(clip, sample_rate=rate)
    assert wet.shape == clip.shape and wet.dtype == np.float32
    assert np.abs(wet).max() == pytest.approx(np.abs(clip).max(), rel=1e-5)
    assert not np.allclose(wet, clip, atol=1e-3)


@needs_encoders
def test_a_probe_with_copies_trains_on_them_and_refits_identically(sound_folders):
    train, _ = sound_folders
    params = {"probe": {"copies": 2}}
    one = api.fit(train, strategy="probe", strategy_params=params, folds=2, seed=3)
    two = api.fit(train, strategy="probe", strategy_params=params, folds=2, seed=3)
    assert one.strategy.copies == 2
    assert one.metrics["accuracy"]["value"] == two.metrics["accuracy"]["value"]
    files = sorted((train / "tone").iterdir())[:3]
    assert np.array_equal(one.predict_proba(files), two.predict_proba(files))


@needs_encoders
def test_a_table_with_a_column_of_sound_paths_is_read_as_those_sounds(tmp_path):
    import pandas as pd

    root = write_folder(tmp_path / "clips", 3, 0)
    files = sorted(root.rglob("*.*"))
    rows = [(str(p.relative_to(tmp_path)), p.parent.name, "x") for p in files]
    table = tmp_path / "clips.csv"
    pd.DataFrame(rows, columns=["path", "label", "note"]).to_csv(table, index=False)
    model = api.fit(table, strategy="prototype", seed=0)
    assert model.modality == "sound" and model.classes == ["bursts", "chirp", "tone"]
    pd.DataFrame(
        [("clips/tone/gone.wav", "tone", "x")] * 2, columns=["path", "label", "note"]
    ).to_csv(tmp_path / "missing.csv", index=False)
    with pytest.raises(SmallfitError, match="names 2 sounds that do not exist"):
        api.fit(tmp_path / "missing.csv")


@needs_encoders
def test_drift_and_suggest_work_on_sounds(sound_folders, tmp_path):
    from smallfit.active.suggestions import suggest
    from smallfit.monitor import drift

    train, test = sound_folders
    model = api.fit(train, strategy="probe", seed=0)
    same = drift(model, test)
    assert same["drift"] is False
    loud = tmp_path / "hum"
    loud.mkdir()
    rng = np.random.default_rng(5)
    t = np.arange(16000) / 16000
    for k in range(12):  # a low hum the training data never held
        wave = 0.5 * np.sin(2 * np.pi * rng.uniform(50, 70) * t) + 0.01 * rng.standard_normal(
            t.size
        )
        sf.write(loud / f"hum{k}.wav", wave.astype(np.float32), 16000)
    assert drift(model, loud)["drift"] is True
    picked = suggest(model, test, n=4)
    assert len(picked) == 4 and all(Path(p).is_file() for p in picked["item"])


def test_spec_augment_masks_bands_and_spans_repeatably():
    import torch

    from smallfit.augment.sound import WIDEST_BANDS, WIDEST_FRAMES, SoundTraining

    frames = np.ones((100, 96), dtype=np.float32)
    views = []
    for _ in range(2):
        torch.manual_seed(7)
        views.append(SoundTraining("medium").spectrogram(frames))
    assert np.array_equal(views[0], views[1])  # the same torch seed, the same masks
    assert frames.min() == 1.0  # the input is not touched
    silent_bands = np.flatnonzero((views[0] == 0).all(axis=0))
    silent_frames = np.flatnonzero((views[0] == 0).all(axis=1))
    assert 0 < silent_bands.size <= 2 * WIDEST_BANDS  # medium: two masks of each kind
    assert 0 < silent_frames.size <= 2 * WIDEST_FRAMES
    with pytest.raises(SmallfitError, match="Unknown sound augmentation 'loud'"):
        SoundTraining("loud")


@needs_encoders
def test_finetune_trains_the_sound_event_encoder_and_joins_the_full_comparison(
    sound_folders, tmp_path
):
    from smallfit.fitting.candidates import candidates_for

    full = [c.label for c in candidates_for("sound", None, None, full=True)]
    assert "finetune@aisfx" in full and "finetune@speech_embedding" not in full
    train, test = sound_folders
    params = {"finetune": {"epochs": 3, "copies": 1, "top_groups": 1}}
    model = api.fit(train, strategy="finetune", strategy_params=params, folds=2, seed=1)
    assert model.backbone == "aisfx"  # the speech encoder has no trainable layers here
    encoder = backbones.create("aisfx")
    assert encoder.transform(train=True, augment="none") is None
    assert encoder.transform(train=True, augment="light").masks == 1  # the sound default
    metrics = api.evaluate_model(model, test)
    assert metrics["accuracy"]["value"] >= 0.8
    model.save(tmp_path / "m")
    files = sorted(test.rglob("*.wav"))[:4]
    again = smallfit.load(tmp_path / "m")
    assert np.allclose(again.predict_proba(files), model.predict_proba(files), atol=1e-6)
    # its ONNX graph takes every block and picks the loudest, as the model does
    from smallfit.export import export_onnx, session

    export_onnx(model, tmp_path / "onnx")
    graph = session(tmp_path / "onnx" / "model.onnx")
    frames = encoder.graph_frames(files)
    got = np.concatenate([graph.run(None, {"frames": f[None]})[0] for f in frames])
    assert np.abs(got - model.predict_proba(files)).max() < 1e-4


@needs_encoders
@pytest.mark.parametrize("backbone", ["speech_embedding", "aisfx"])
def test_a_sound_probe_exports_to_onnx_with_the_models_probabilities(
    backbone, sound_folders, tmp_path
):
    import json

    from smallfit.data.audio import load_sound
    from smallfit.export import export_onnx, session

    train, test = sound_folders
    model = api.fit(train, strategy="probe", backbone=backbone, folds=2, seed=0)
    out = tmp_path / "onnx"
    spec = export_onnx(model, out)
    assert spec["inputs"] == ["frames"] and spec["check"]["max_abs_difference_to_pytorch"] < 1e-4
    sidecar = json.loads((out / "model.onnx.json").read_text())
    assert sidecar["input"]["steps"] and "windows" in sidecar["training_input"]
    files = sorted(test.rglob("*.wav"))[:4] + sorted(test.rglob("*.flac"))[:2]
    graph = session(out / "model.onnx")
    if backbone == "speech_embedding":  # the documented steps, with the copied graphs
        mel, embedding = session(out / "speech_mel.onnx"), session(out / "speech_embedding.onnx")
        frames = []
        for path in files:
            clip = load_sound(path, 16000)
            clip = np.pad(
                clip, (max(0, 16000 - clip.size) // 2, max(0, 16000 - clip.size + 1) // 2)
            )
            clip = np.clip(clip * 32767.0, -32768.0, 32767.0).astype(np.float32)
            spectrum = mel.run(None, {"input": clip[None]})[0].reshape(-1, 32) / 10.0 + 2.0
            windows = [spectrum[s : s + 76] for s in range(0, len(spectrum) - 75, 8)]
            stacked = np.stack(windows)[..., None].astype(np.float32)
            frames.append(embedding.run(None, {"input_1": stacked})[0].reshape(len(windows), 96))
    else:
        frames = backbones.create(backbone).graph_frames(files)
    got = np.concatenate([graph.run(None, {"frames": f[None]})[0] for f in frames])
    assert np.abs(got - model.predict_proba(files)).max() < 1e-4
    assert (got.argmax(1) == model.predict_proba(files).argmax(1)).all()


def test_a_file_longer_than_a_minute_is_named_as_read_in_part(tmp_path):
    from smallfit.data.audio import MAX_SECONDS

    path = tmp_path / "meeting.wav"
    rate = 8000
    sf.write(path, np.zeros(int(rate * (MAX_SECONDS + 5)), dtype=np.float32) + 0.01, rate)
    with pytest.warns(
        UserWarning, match=r"(?s)1 sound file\(s\) are longer than 60 s.*meeting.wav \(65 s\)"
    ):
        assert check_readable([path]) == []
    assert len(decode(path).samples) == int(rate * MAX_SECONDS)


def test_windows_cover_a_sound_half_overlapping_and_end_where_it_ends():
    from smallfit.data.audio import windows

    rate = 1000
    sound = Sound(np.arange(5200, dtype=np.float32) / 5200, rate)
    parts = windows(sound, 1.0)
    starts = [int(round(p.samples[0] * 5200)) for p in parts]
    assert starts == [0, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4200]
    assert {p.samples.size for p in parts} == {1000}
    assert parts[-1].samples[-1] == sound.samples[-1]
    assert [p.samples.size for p in windows(Sound(np.ones(700, np.float32), rate), 1.0)] == [700]


@needs_encoders
def test_a_long_recording_is_predicted_by_the_windows_that_hold_something(sound_folders, tmp_path):
    from smallfit import modalities
    from smallfit.model import pooled_windows

    train, _ = sound_folders
    noise = hiss_folder(tmp_path / "noise")
    model = api.fit(train, strategy="prototype", seed=0, background=noise)
    length = model.info["input"]["clip_seconds"]
    assert 0.8 <= length <= 1.6  # the median training clip (make_sound: 0.8 to 1.6 s)
    rate = 16000
    recordings = []
    for seed in range(3):  # a chirp said once, at 3 s, in 8 s of hiss
        hiss = (0.05 * np.random.default_rng(50 + seed).standard_normal(8 * rate)).astype("f4")
        chirp = make_sound("chirp", 900 + seed)
        hiss[3 * rate : 3 * rate + chirp.size] += chirp
        recordings.append(Sound(hiss, rate))
    quiet = Sound((0.05 * np.random.default_rng(60).standard_normal(8 * rate)).astype("f4"), rate)
    short = Sound(make_sound("tone", 901), rate)
    assert list(model.predict([*recordings, quiet, short])) == [
        *["chirp"] * 3,
        "background",
        "tone",
    ]
    from smallfit.data.audio import windows

    parts = windows(recordings[0], length)
    size = parts[0].samples.size
    assert all(p.samples.size == size for p in parts) and size == round(length * rate)
    assert np.array_equal(parts[-1].samples, recordings[0].samples[-size:])
    by_hand = pooled_windows(model.strategy.predict_proba(parts), model.classes)
    assert np.allclose(model.predict_proba(recordings[:1])[0], by_hand)
    whole = model.strategy.predict_proba(recordings[:1])[0]  # every frame pooled at once
    assert np.abs(whole - by_hand).max() > 0.05
    assert np.allclose(model.predict_proba([short]), model.strategy.predict_proba([short]))
    model.save(tmp_path / "m")
    assert smallfit.load(tmp_path / "m").info["input"] == {"clip_seconds": length}
    described = modalities.get("sound").describe_input(model.info["input"])
    assert f"A sound over {2 * length:g} s is cut into {length:g} s windows" in described
