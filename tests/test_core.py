"""Validation, metrics, atomic writes, seeds, tiling and the ladder VAE."""

import numpy as np
import pytest
import torch

from structnoise._validate import as_stack, check_axis
from structnoise.io import read_stack, write_tiff
from structnoise.methods.tiling import predict_tiled, tile_starts
from structnoise.methods.vae.ladder import LadderVAE
from structnoise.metrics import psnr, psnr_stack
from structnoise.utils import atomic_path, derive_seed


def test_as_stack_shapes_and_dtype():
    s, was2d = as_stack(np.zeros((5, 6), np.uint16))
    assert s.shape == (1, 5, 6) and s.dtype == np.float32 and was2d
    s, was2d = as_stack(np.zeros((2, 5, 6), np.float64))
    assert s.shape == (2, 5, 6) and not was2d


@pytest.mark.parametrize(
    ("arr", "match"),
    [
        (np.zeros(5), "1-D"),
        (np.zeros((1, 2, 3, 4)), "4-D"),
        (np.array([[1.0, np.nan]]), "NaN"),
        (np.array([[1.0, np.inf]]), "infinite"),
        (np.zeros((0, 4)), "empty"),
        (np.array([["a"]]), "numeric"),
    ],
)
def test_as_stack_rejects(arr, match):
    with pytest.raises(ValueError, match=match):
        as_stack(arr, name="noisy")


def test_as_stack_min_size_and_negative():
    with pytest.raises(ValueError, match="smaller than the minimum 16x16"):
        as_stack(np.zeros((8, 32)), min_size=16)
    with pytest.raises(ValueError, match="negative"):
        as_stack(-np.ones((4, 4)), nonnegative=True)


def test_check_axis():
    assert check_axis("vertical") == "vertical"
    with pytest.raises(ValueError, match="unknown axis 'diagonal'"):
        check_axis("diagonal")


def test_psnr_matches_skimage(rng):
    from skimage.metrics import peak_signal_noise_ratio

    gt = rng.uniform(0, 3, (32, 32))
    pred = gt + rng.normal(0, 0.1, gt.shape)
    expected = peak_signal_noise_ratio(gt, pred, data_range=gt.max() - gt.min())
    assert psnr(gt, pred) == pytest.approx(expected)
    per = psnr_stack(np.stack([gt, gt]), np.stack([pred, gt + 0.1]))
    assert per.shape == (2,) and per[0] == pytest.approx(expected)
    with pytest.raises(ValueError, match="shape"):
        psnr(gt, pred[:4])


def test_atomic_path_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "a.npy"
    with atomic_path(target) as tmp:
        np.save(tmp, np.arange(3))
    assert np.load(target).tolist() == [0, 1, 2]
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        np.save(tmp, np.arange(5))
        raise RuntimeError("interrupted")
    assert np.load(target).tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]


def test_derive_seed_stable_and_distinct():
    a = derive_seed(0, "dvlae-small", "embedded-stripe", 0)
    assert a == derive_seed(0, "dvlae-small", "embedded-stripe", 0)
    assert a != derive_seed(0, "dvlae-small", "embedded-stripe", 1)
    assert a != derive_seed(1, "dvlae-small", "embedded-stripe", 0)
    assert 0 <= a < 2**31


def test_read_write_stack(tmp_path, rng):
    arr = rng.integers(0, 1000, (3, 8, 9)).astype(np.uint16)
    write_tiff(tmp_path / "s.tif", arr)
    np.testing.assert_array_equal(read_stack(tmp_path / "s.tif"), arr)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(2):
        write_tiff(folder / f"{i}.tif", arr[i])
    assert read_stack(folder).shape == (2, 8, 9)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        read_stack(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_stack(tmp_path / "missing.tif")


def test_tile_starts_cover():
    starts = tile_starts(100, 32, 8)
    assert starts[0] == 0 and starts[-1] == 68
    assert all(b - a <= 24 for a, b in zip(starts, starts[1:], strict=False))
    assert tile_starts(20, 32, 8) == [0]


def test_predict_tiled_equals_whole_for_pointwise_fn(rng):
    stack = rng.normal(size=(2, 70, 53)).astype(np.float32)

    def fn(b):
        assert b.shape[-1] % 8 == 0 and b.shape[-2] % 8 == 0
        return b * 2 + 1

    whole = predict_tiled(fn, stack, tile=None, multiple=8)
    tiled = predict_tiled(fn, stack, tile=32, overlap=8, multiple=8)
    np.testing.assert_allclose(whole, stack * 2 + 1, rtol=1e-6)
    np.testing.assert_allclose(tiled, whole, rtol=1e-5, atol=1e-5)


def test_ladder_shapes_kl_and_uncond_levels():
    torch.manual_seed(0)
    vae = LadderVAE(n_filters=8, z_dims=[4, 4, 4], uncond_levels=[0])
    assert vae.multiple == 8
    x = torch.randn(2, 1, 20, 13)
    out = vae(x)
    assert out.s_code.shape == (2, 8, 20, 13)
    assert [k.shape[-1] for k in out.kl] == [8, 4, 2]
    assert float(out.kl[0].abs().sum()) == 0.0
    assert float(out.kl[1].sum()) > 0.0
    vae.eval()
    a = vae(x, use_mean=True).s_code
    b = vae(x, use_mean=True).s_code
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="top level"):
        LadderVAE(n_filters=8, z_dims=[4, 4], uncond_levels=[1])


# ------------------------------------------------------------------ the method contract
class _Recorder:
    """A BaseDenoiser subclass factory recording what its ``_fit`` hook received."""

    @staticmethod
    def make(extra: bool):
        from typing import ClassVar

        from structnoise.methods.base import BaseDenoiser
        from structnoise.methods.contract import MethodInfo

        class Rec(BaseDenoiser):
            info: ClassVar[MethodInfo] = MethodInfo(
                extra_noisy=extra, denoise_options=("tile",), learns=False
            )

            def _fit(self, noisy, clean, val, **declared):
                self.got = {"noisy": noisy.shape, **declared}

            def _denoise(self, noisy, **options):
                return noisy

        return Rec


def test_fit_passes_extra_noisy_only_to_methods_that_declare_it():
    x = np.zeros((2, 16, 16), np.float32)
    plain = _Recorder.make(extra=False)()
    plain.fit(x)
    assert plain.got == {"noisy": (2, 16, 16)}  # called as _fit(x, c, v)
    with pytest.raises(TypeError, match="rec does not take extra_noisy"):
        plain.fit(x, extra_noisy=x)
    declaring = _Recorder.make(extra=True)()
    declaring.fit(x)
    assert declaring.got == {"noisy": (2, 16, 16)}  # the keyword only with extra images
    declaring.fit(x, extra_noisy=np.zeros((5, 8, 8)))
    assert declaring.got["extra_noisy"].shape == (5, 8, 8)


def test_denoise_refuses_undeclared_options():
    from structnoise import methods

    model = _Recorder.make(extra=False)().fit(np.zeros((1, 16, 16)))
    assert model.denoise(np.ones((16, 16)), tile=8).shape == (16, 16)
    with pytest.raises(TypeError, match=r"does not take \['n_samples'\]; it takes tile"):
        model.denoise(np.ones((16, 16)), n_samples=3)
    gauss = methods.create("gaussian").fit(np.zeros((1, 16, 16)))
    with pytest.raises(TypeError, match="takes no options"):
        gauss.denoise(np.ones((16, 16)), tile=8)


def test_registry_temporary_restores_the_registry():
    from structnoise import methods
    from structnoise.methods import registry

    before = methods.list_methods()
    with registry.temporary():
        registry.register("test-temp")(_Recorder.make(extra=False))
        registry.register("gaussian", replace=True)(_Recorder.make(extra=True))
        assert "test-temp" in methods.list_methods()
        assert methods.method_info("gaussian").extra_noisy
        with pytest.raises(ValueError, match="already registered"):
            registry.register("test-temp")(lambda **params: None)
    assert methods.list_methods() == before
    assert not methods.method_info("gaussian").extra_noisy
    with registry.temporary():  # reset() forgets every method registered after loading
        registry.reset()
        baseline = methods.list_methods()
        registry.register("test-reset")(_Recorder.make(extra=False))
        registry.reset()
        assert methods.list_methods() == baseline
        assert {"gaussian", "bm3d", "noisy"} <= set(baseline)
    assert methods.list_methods() == before


def test_register_on_a_class_with_the_parameters_a_name_fixes():
    from structnoise import methods
    from structnoise.methods import registry
    from structnoise.methods.base import BaseDenoiser
    from structnoise.methods.contract import MethodInfo

    with registry.temporary():

        @registry.register("test-wide", width=3)
        @registry.register("test-narrow", info=MethodInfo(description="narrow"), width=1)
        class Blur(BaseDenoiser):
            info = MethodInfo(description="a blur", learns=False, denoise_options=())

            def __init__(self, *, width=2, **kw):
                super().__init__(width=width, **kw)

            def _denoise(self, noisy, **options):
                return noisy * self.params["width"]

        assert isinstance(Blur, type)  # the decorator returns the class unchanged
        wide, narrow = methods.create("test-wide"), methods.create("test-narrow", seed=4)
        assert (wide.name, wide.params["width"]) == ("test-wide", 3)
        assert (narrow.name, narrow.params["width"], narrow.seed) == ("test-narrow", 1, 4)
        assert methods.method_info("test-wide").description == "a blur"  # the class's info
        assert methods.method_info("test-narrow").description == "narrow"
        assert methods.create("test-wide", width=3).params["width"] == 3
        with pytest.raises(TypeError, match="test-wide is width=3; it does not take width=5"):
            methods.create("test-wide", width=5)
        # callers that build through the entry's factory (the benchmark) get the same
        assert registry.get_entry("test-wide").factory().params["width"] == 3
        assert registry.get_entry("test-wide").method is Blur
    # the built-in variants are one class each with the variant they fix
    assert methods.get_entry("dvlae-large").defaults == {"variant": "large"}
    assert methods.get_entry("dvlae-large").factory().variant == "large"
    assert methods.get_entry("hdn36-large").factory(seed=1).variant == "hdn36-large"
    assert methods.create("hdn36").variant == "hdn36"
    with pytest.raises(TypeError, match="dvlae-small is variant='small'"):
        methods.create("dvlae-small", variant="large")


def test_method_info_derives_what_other_fields_say():
    from structnoise.methods.contract import MethodInfo

    assert not MethodInfo().needs_clean and not MethodInfo().samples
    assert MethodInfo(clean_use="target").needs_clean
    assert MethodInfo(clean_use="calibration").needs_clean
    assert MethodInfo(denoise_options=("n_samples", "tile")).samples
    assert not MethodInfo(denoise_options=("tile",)).samples
    with pytest.raises(TypeError):
        MethodInfo(needs_clean=True)  # not a field: clean_use says it
