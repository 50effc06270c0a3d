"""Embedded default datasets (scikit-image tiles): split, determinism, cache."""

import os

import numpy as np
import pytest

from structnoise.datasets import embedded
from structnoise.datasets.catalog import dataset_axis, get_entry
from structnoise.datasets.embedded import (
    TEST_SOURCES,
    TRAIN_SOURCES,
    cache_path,
    embedded_checkerboard,
    embedded_stripe,
)
from structnoise.metrics import psnr_stack


def test_sources_are_disjoint_and_enough():
    assert not set(TRAIN_SOURCES) & set(TEST_SOURCES)
    assert len(TEST_SOURCES) >= 4


@pytest.mark.parametrize(
    ("loader", "axis", "psnr_range"),
    [(embedded_stripe, "horizontal", (24, 31)), (embedded_checkerboard, "vertical", (14, 19.11))],
)
def test_embedded_dataset(loader, axis, psnr_range, tmp_path):
    ds = loader()
    assert ds.axis == axis
    assert ds.test_noisy.shape == ds.test_clean.shape == (16, 128, 128)
    assert 50 <= len(ds.train_noisy) <= 300
    assert ds.train_clean.shape == ds.train_noisy.shape
    for arr in (ds.train_noisy, ds.test_noisy, ds.test_clean, ds.train_clean):
        assert arr.dtype == np.float32
    assert ds.test_clean.min() >= 0 and ds.test_clean.max() <= 1
    assert ds.test_clean.std(axis=(1, 2)).min() > 0.05  # no flat test tiles
    # no test tile appears in the training set
    flat_train = ds.train_clean.reshape(len(ds.train_clean), -1)
    for tile in ds.test_clean.reshape(16, -1):
        assert not np.any(np.all(flat_train == tile, axis=1))
    noisy_psnr = psnr_stack(ds.test_clean, ds.test_noisy).mean()
    assert psnr_range[0] < noisy_psnr < psnr_range[1]
    assert ds.citation and ds.licence and ds.description
    # the catalogue's entry is written from the same table as the loader
    entry = get_entry(ds.name)
    assert entry.loader is loader and entry.axis == ds.axis == dataset_axis(ds.name)
    # cached under $STRUCTNOISE_DATA (set per test by conftest), written atomically
    path = cache_path(ds.name)
    assert path.exists() and str(path).startswith(os.environ["STRUCTNOISE_DATA"])
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_cache_is_used_and_build_is_deterministic(monkeypatch):
    first = embedded_stripe()
    mtime = cache_path("embedded-stripe").stat().st_mtime_ns

    def boom():
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr(embedded, "clean_tiles", boom)
    again = embedded_stripe()
    assert cache_path("embedded-stripe").stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(first.test_noisy, again.test_noisy)
    monkeypatch.undo()
    rebuilt = embedded_stripe(rebuild=True)
    np.testing.assert_array_equal(first.train_noisy, rebuilt.train_noisy)
    np.testing.assert_array_equal(first.test_noisy, rebuilt.test_noisy)


def test_corrupt_cache_is_rebuilt():
    ds = embedded_checkerboard()
    path = cache_path("embedded-checkerboard")
    path.write_bytes(b"not an npz file")
    again = embedded_checkerboard()
    np.testing.assert_array_equal(ds.test_noisy, again.test_noisy)
    with np.load(path) as f:
        assert "test_noisy" in f.files


def test_noise_parameters_give_a_separate_cache():
    default = embedded_stripe()
    stronger = embedded_stripe(read_std=0.05)
    assert stronger.test_noisy.var() > default.test_noisy.var()
    np.testing.assert_array_equal(default.test_clean, stronger.test_clean)
    again = embedded_stripe()
    np.testing.assert_array_equal(default.test_noisy, again.test_noisy)
    assert len(list(cache_path("embedded-stripe").parent.glob("embedded-stripe-*.npz"))) == 2


def test_unknown_name():
    with pytest.raises(ValueError, match="embedded-stripe"):
        embedded.build_embedded("embedded-nothing")


def test_embedded_volume_dataset(monkeypatch):
    from structnoise.datasets import embedded_3d as ev
    from structnoise.datasets import load_dataset
    from structnoise.datasets.axis_proposal import propose_volume_axis
    from structnoise.datasets.catalog import dataset_status, fetch_dataset

    assert dataset_status("embedded-volume") == "built on first use"
    ds = load_dataset("embedded-volume")
    assert ds.name == "embedded-volume" and ds.axis == "z" == dataset_axis(ds.name)
    assert ds.train_noisy.shape == ds.train_clean.shape == (ev.N_TRAIN, *ev.SHAPE)
    assert ds.test_noisy.shape == ds.test_clean.shape == (ev.N_TEST, 16, 64, 64)
    for arr in (ds.train_noisy, ds.test_noisy, ds.test_clean, ds.train_clean):
        assert arr.dtype == np.float32
    assert ds.test_clean.min() >= 0 and ds.test_clean.max() <= 1
    assert ds.test_clean.std(axis=(1, 2, 3)).min() > 0.05  # structure, not flat volumes
    # no test volume in the training set
    flat_train = ds.train_clean.reshape(len(ds.train_clean), -1)
    for vol in ds.test_clean.reshape(ev.N_TEST, -1):
        assert not np.any(np.all(flat_train == vol, axis=1))
    noisy_psnr = psnr_stack(
        ds.test_clean.reshape(-1, 64, 64), ds.test_noisy.reshape(-1, 64, 64)
    ).mean()
    assert 20 < noisy_psnr < 28
    # the noise is the z-correlated read-out noise: proposed z, with or without clean
    assert propose_volume_axis(ds.test_noisy, ds.test_clean).axis == "z"
    assert propose_volume_axis(ds.test_noisy).axis == "z"
    assert ds.citation and ds.licence and ds.description
    entry = get_entry("embedded-volume")
    assert entry.loader is ev.embedded_volume and entry.axis == ds.axis
    assert dataset_status("embedded-volume") == "cached"
    assert fetch_dataset("embedded-volume") == [ev.cache_path()]

    # cached and deterministic
    def boom(*args):
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr(ev, "_build", boom)
    np.testing.assert_array_equal(load_dataset("embedded-volume").test_noisy, ds.test_noisy)
    monkeypatch.undo()
    rebuilt = ev.embedded_volume(rebuild=True)
    np.testing.assert_array_equal(rebuilt.train_noisy, ds.train_noisy)
    # other noise parameters are cached beside the default
    weak = ev.embedded_volume(z_correlation=0.0)
    np.testing.assert_array_equal(weak.test_clean, ds.test_clean)
    assert propose_volume_axis(weak.test_noisy, weak.test_clean).axis is None
    assert len(list(ev.cache_path().parent.glob("embedded-volume-*.npz"))) == 2
