"""FFHQ loader on a small fake thumbnails folder / zip, and the dataset catalogue."""

import zipfile

import numpy as np
import pytest
from PIL import Image

from structnoise.datasets import (
    NoisyDataset,
    embedded_stripe,
    ffhq_checkerboard,
    ffhq_stripe,
    list_datasets,
    load_dataset,
)
from structnoise.datasets.catalog import CATALOG, dataset_status
from structnoise.datasets.ffhq import FFHQ_ENV


@pytest.fixture
def thumbs(tmp_path, rng):
    """10 RGB 16x16 PNGs in two sub-folders, like thumbnails128x128/00000/00000.png."""
    root = tmp_path / "thumbnails128x128"
    images = {}
    for i in range(10):
        sub = root / f"{(i // 5) * 1000:05d}"
        sub.mkdir(parents=True, exist_ok=True)
        img = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
        Image.fromarray(img).save(sub / f"{i:05d}.png")
        images[i] = img.astype(np.float32).mean(axis=-1) / 255
    return root, images


def test_ffhq_folder_split_and_grayscale(thumbs):
    root, images = thumbs
    ds = ffhq_stripe(root, n_test=3, progress=False)
    assert isinstance(ds, NoisyDataset) and ds.axis == "horizontal"
    assert ds.train_clean.shape == (7, 16, 16) and ds.test_clean.shape == (3, 16, 16)
    np.testing.assert_allclose(ds.test_clean[0], images[7], atol=1e-6)  # last 3 by name
    np.testing.assert_allclose(ds.train_clean[2], images[2], atol=1e-6)
    assert ds.test_noisy.dtype == np.float32 and "CC BY-NC-SA" in ds.licence
    # limiting the training set keeps the split and the noise of every image
    small = ffhq_stripe(root, n_test=3, n_train=2, progress=False)
    assert small.train_noisy.shape == (2, 16, 16)
    np.testing.assert_array_equal(small.train_noisy, ds.train_noisy[:2])
    np.testing.assert_array_equal(small.test_noisy, ds.test_noisy)


def test_ffhq_zip_and_env(thumbs, tmp_path, monkeypatch):
    root, images = thumbs
    archive = tmp_path / "thumbs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(root.rglob("*.png"), reverse=True):
            zf.write(p, p.relative_to(root.parent))
    monkeypatch.setenv(FFHQ_ENV, str(archive))
    assert dataset_status("ffhq-checkerboard") == "local path set"
    ds = load_dataset("ffhq-checkerboard", n_test=3, progress=False)
    assert ds.axis == "vertical"
    np.testing.assert_allclose(ds.test_clean[2], images[9], atol=1e-6)
    again = ffhq_checkerboard(root, n_test=3, progress=False)
    np.testing.assert_array_equal(again.test_noisy, ds.test_noisy)


def test_ffhq_missing_gives_where_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="NVlabs/ffhq-dataset.*CC BY-NC-SA"):
        ffhq_stripe()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ffhq_stripe(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="found 0 images"):
        ffhq_stripe(tmp_path / "empty")


def test_catalogue_lists_every_dataset():
    rows = {d.name: d for d in list_datasets()}
    expected = {
        "embedded-stripe",
        "embedded-checkerboard",
        "embedded-volume",
        "convallaria-a",
        "convallaria-b",
        "mouse-actin",
        "mouse-nuclei",
        "ffhq-stripe",
        "ffhq-checkerboard",
        "stem",
    }
    assert set(rows) == expected
    assert rows["stem"].status == "unavailable" and rows["stem"].note
    assert rows["convallaria-a"].status == "downloadable"
    assert rows["ffhq-stripe"].status == "needs a local path"
    assert rows["embedded-stripe"].status == "built on first use"
    ds = embedded_stripe()
    assert dataset_status("embedded-stripe") == "cached"
    size = CATALOG["embedded-stripe"].size
    assert size.startswith(f"{len(ds.train_noisy)} train + {len(ds.test_noisy)} test")


def test_load_dataset_unknown_name_lists_known():
    with pytest.raises(ValueError, match="Did you mean 'mouse-actin'.*embedded-stripe"):
        load_dataset("mouse-actn")
    ds = load_dataset("Embedded_Checkerboard")
    assert ds.name == "embedded-checkerboard"
