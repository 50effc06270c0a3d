"""One conformance test for every registered method, generated from the registry.

Every method must: fit on a tiny stack with ``profile="smoke"`` (clean targets given
where ``needs_clean``), denoise to float32 of the input's shape (3-D and 2-D), give
finite output, give the same result for the same seed, reject bad input (1-D, 4-D,
NaN) with a ValueError, and survive ``save`` -> ``structnoise.methods.load``.
Methods promise that ``smoke`` fits 4 images of 64 x 64 in seconds.
"""

import numpy as np
import pytest

from structnoise import methods
from structnoise.methods.contract import MethodInfo

SEED = 7


def _tiny_stack(n=4, size=64):
    """Smooth positive images (values in about [0.1, 0.9]) and noisy copies."""
    rng = np.random.default_rng(123)
    yy, xx = np.mgrid[0:size, 0:size] / size
    clean = np.stack(
        [
            0.5
            + 0.3 * np.sin(2 * np.pi * (yy * (i + 1) + xx * (2 - i / 2)))
            + 0.1 * np.cos(6 * np.pi * xx)
            for i in range(n)
        ]
    ).astype(np.float32)
    noisy = (clean + rng.normal(0, 0.05, clean.shape)).astype(np.float32)
    return noisy, clean


#: Wall-clock budget (minutes) far above what the smoke profiles' step limits take, so that
#: training always ends at its step limit: a busy machine must not change the result.
SAFE_MINUTES = 30.0


def _build(name):
    info = methods.method_info(name)
    return methods.create(name, profile="smoke", seed=SEED, max_minutes=SAFE_MINUTES), info


def _fit(model, info, noisy, clean):
    return model.fit(noisy, clean if info.needs_clean else None)


@pytest.fixture(scope="module")
def data():
    return _tiny_stack()


@pytest.mark.parametrize("name", methods.list_methods())
def test_method_conforms(name, data, tmp_path):
    noisy, clean = data
    model, info = _build(name)
    assert isinstance(info, MethodInfo)
    assert set(info.budgets) >= {"smoke", "quick", "paper"}
    assert isinstance(model, methods.Denoiser)

    _fit(model, info, noisy, clean)
    out = model.denoise(noisy)
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert np.isfinite(out).all()
    single = model.denoise(noisy[0].astype(np.float64))
    assert single.shape == noisy.shape[1:] and single.dtype == np.float32
    assert np.isfinite(single).all()

    # same seed, same result (a second model trained from scratch; two images suffice)
    again, _ = _build(name)
    _fit(again, info, noisy, clean)
    np.testing.assert_array_equal(again.denoise(noisy[:2]), out[:2])

    # bad input gives a clear ValueError, in fit and in denoise
    bad = {
        "1-D": np.zeros(64, np.float32),
        "4-D": np.zeros((1, 2, 64, 64), np.float32),
        "NaN": np.where(np.arange(noisy.size).reshape(noisy.shape) == 5, np.nan, noisy),
    }
    for what, arr in bad.items():
        with pytest.raises(ValueError, match=what):
            model.denoise(arr)
        fresh, _ = _build(name)
        with pytest.raises(ValueError, match=what):
            fresh.fit(arr, arr if info.needs_clean else None)

    # save -> load -> same output
    folder = tmp_path / f"saved-{name}"
    model.save(folder)
    assert (folder / "method.json").is_file()
    restored = methods.load(folder)
    np.testing.assert_array_equal(restored.denoise(noisy[:2]), out[:2])


@pytest.mark.parametrize(
    "name", [n for n in methods.list_methods() if methods.method_info(n).needs_clean]
)
def test_supervised_methods_refuse_without_clean(name, data):
    noisy, _ = data
    model, _ = _build(name)
    with pytest.raises(ValueError, match="needs clean targets"):
        model.fit(noisy)


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in methods.list_methods()
        if hasattr(methods.get_entry(n).factory, "one_pass_network")
    ],
)
def test_one_pass_hook_says_why_an_unfitted_model_has_no_network(name):
    """The optional export hook: a ValueError naming the reason, as export expects."""
    with pytest.raises(ValueError, match="not fitted"):
        methods.create(name, profile="smoke").one_pass_network()
