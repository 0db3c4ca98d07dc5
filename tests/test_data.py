"""Reading sources: layouts, image modes, tables, and errors that name what is wrong."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from smallfit.data import load_image
from smallfit.errors import SmallfitError
from smallfit.modalities.reading import from_python, read_source


def test_image_folder_reads_classes_recursively(tmp_path):
    (tmp_path / "cats" / "deep").mkdir(parents=True)
    (tmp_path / "dogs").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "cats" / "a.jpg")
    Image.new("RGB", (8, 8)).save(tmp_path / "cats" / "deep" / "b.PNG")
    Image.new("RGB", (8, 8)).save(tmp_path / "dogs" / "c.bmp")
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    dataset = read_source(tmp_path, labeled=True)
    assert dataset.classes == ["cats", "dogs"]
    assert [p.name for p in dataset.items] == ["a.jpg", "b.PNG", "c.bmp"]
    assert list(dataset.labels) == ["cats", "cats", "dogs"]
    (tmp_path / "birds").mkdir()  # a class folder still empty: said, not silently dropped
    with pytest.warns(UserWarning, match="Folder.s. birds in .* hold no images"):
        assert read_source(tmp_path, labeled=True).classes == ["cats", "dogs"]


@pytest.mark.parametrize(
    "make",
    [
        lambda: Image.new("L", (10, 6), 128),
        lambda: Image.new("RGBA", (10, 6), (255, 0, 0, 0)),
        lambda: Image.fromarray(np.full((6, 10), 40000, dtype=np.uint16)),
        lambda: Image.new("P", (10, 6)),
    ],
    ids=["grey", "rgba", "16-bit", "palette"],
)
def test_any_mode_loads_as_rgb(tmp_path, make):
    path = tmp_path / "image.png"
    make().save(path)
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (10, 6)


def test_transparent_pixels_become_white(tmp_path):
    path = tmp_path / "clear.png"
    Image.new("RGBA", (4, 4), (255, 0, 0, 0)).save(path)
    assert load_image(path).getpixel((0, 0)) == (255, 255, 255)


def test_exif_rotation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.new("RGB", (20, 10)).save(path, exif=exif)
    assert load_image(path).size == (10, 20)


def test_reframed_copies_are_the_same_in_every_fold_and_differ_from_their_source(tmp_path):
    from smallfit.data.identity import item_key
    from smallfit.modalities import get

    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.png")
        shape = (40, 60, 3) if i else (1200, 1800, 3)  # a large photo's copy is made small
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(paths[-1])
    tiny = (np.arange(64).reshape(8, 8) * 4).astype(np.uint8)  # 8x8, as scikit-learn's digits
    image = get("image")
    first = image.augmented([*paths, tiny], 2, seed=0)
    again = image.augmented(paths[1:], 2, seed=0)  # another fold: fewer items
    assert len(first) == 8 and len(again) == 4
    assert item_key(first[1]) == item_key(again[0])  # the same copy of the same file
    assert np.array_equal(np.asarray(load_image(first[1])), np.asarray(load_image(again[0])))
    assert item_key(first[0]) != item_key(image.augmented(paths, 2, seed=1)[0])
    assert len({item_key(c) for c in first}) == 8
    for copy, source in zip(first[:3], paths, strict=True):
        view = load_image(copy)
        assert view.size == (256 * 60 // 40, 256)  # made at the encoders' input scale
        resized = load_image(source).resize(view.size)
        assert not np.array_equal(np.asarray(view), np.asarray(resized))
    assert load_image(first[3]).size == (256, 256)
    assert 0.3 < np.asarray(load_image(first[3])).mean() / 255 < 0.7  # the digit's own pixels


def test_corrupt_images_are_named_or_skipped(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / name / "good.png")
    (tmp_path / "a" / "broken.jpg").write_bytes(b"not really a jpeg")
    with pytest.raises(SmallfitError, match=r"broken\.jpg[\s\S]*--skip-bad"):
        read_source(tmp_path, labeled=True)
    with pytest.warns(UserWarning, match="Skipping 1 unreadable"):
        dataset = read_source(tmp_path, labeled=True, skip_bad=True)
    assert len(dataset) == 2


def test_folder_without_class_folders_says_what_layout_is_expected(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "loose.png")
    with pytest.raises(SmallfitError, match=r"<class>"):
        read_source(tmp_path, labeled=True)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_tables_of_every_format_detect_text_and_label(tmp_path, suffix):
    frame = pd.DataFrame({"Text": ["good film", "bad film"], "label": [5, 1]})
    path = tmp_path / f"reviews{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    dataset = read_source(path, labeled=True)
    assert dataset.items == ["good film", "bad film"]
    assert dataset.classes == [1, 5] and dataset.modality == "text"


def test_named_columns_are_used_and_a_missing_one_lists_the_columns(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"review": ["a", "b"], "stars": [1, 2], "notes": ["x", "y"]}).to_csv(
        path, index=False
    )
    dataset = read_source(path, labeled=True, text_column="review", label_column="stars")
    assert dataset.items == ["a", "b"]
    with pytest.raises(SmallfitError, match="no column 'body'.*review, stars, notes"):
        read_source(path, labeled=True, text_column="body", label_column="stars")
    with pytest.raises(SmallfitError, match="--label-column"):
        read_source(path, labeled=True, text_column="review")


def test_empty_texts_and_missing_labels_name_their_rows(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"text": ["fine", "", "ok"], "label": ["a", "b", "a"]}).to_csv(path, index=False)
    with pytest.raises(SmallfitError, match="row 3"):  # header is row 1
        read_source(path, labeled=True)
    pd.DataFrame({"text": ["fine", "x", "ok"], "label": ["a", None, "a"]}).to_csv(path, index=False)
    with pytest.raises(SmallfitError, match="no label:\n  row 3"):
        read_source(path, labeled=True)


def test_fewer_than_two_classes_is_refused(tmp_path):
    dataset = from_python(["a", "b", "c"], ["x", "x", "x"])
    with pytest.raises(SmallfitError, match="fewer than two classes"):
        dataset.check_trainable()


def test_python_inputs_of_each_kind(image_folder):
    paths = sorted(str(p) for p in image_folder.rglob("*.png"))
    assert from_python(paths).modality == "image"
    assert from_python(["hello", "world"]).modality == "text"
    assert from_python([np.zeros((5, 5), np.uint8)]).modality == "image"
    assert from_python(np.zeros((3, 5, 5), np.uint8)).modality == "image"
    assert from_python([Image.new("RGB", (3, 3))]).modality == "image"
    with pytest.raises(SmallfitError, match="mix images and texts"):
        from_python([paths[0], "hello"])


def test_unlabeled_sources_for_prediction(image_folder, tmp_path):
    folder = read_source(image_folder, labeled=False)
    assert [str(p) for p in folder.items] == sorted(str(p) for p in image_folder.rglob("*.png"))
    single = read_source(folder.items[0], labeled=False)
    assert len(single) == 1
    with pytest.raises(SmallfitError, match="does not exist"):
        read_source(tmp_path / "nowhere", labeled=False)


def test_reading_never_modifies_the_data(image_folder):
    before = {p: p.read_bytes() for p in image_folder.rglob("*") if p.is_file()}
    read_source(image_folder, labeled=True)
    after = {p: p.read_bytes() for p in image_folder.rglob("*") if p.is_file()}
    assert before == after


def test_the_only_column_of_strings_is_taken_as_the_text(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"words": ["good film", "bad film"], "label": [5, 1]}).to_csv(path, index=False)
    assert read_source(path, labeled=True).items == ["good film", "bad film"]


def test_labels_differing_only_in_case_or_spaces_are_named_in_a_warning():
    with pytest.warns(UserWarning, match=r"'POS', 'pos', 'pos '.* make its labels identical"):
        dataset = from_python(["a", "b", "c", "d"], ["pos", "pos ", "POS", "neg"])
    assert dataset.classes == ["POS", "neg", "pos", "pos "]  # the user's labels, kept apart
