"""The paper profile builds the authors' network; their weights map onto ours and import.

No code of the authors is needed: their state dicts are made from ours with the inverse
mapping (``to_authors``), which the equivalence script checks against their real modules
(``benchmarks/authors_equivalence.py``).
"""

import json
import os
import sys
import types

import numpy as np
import pytest
import tifffile
import torch
from typer.testing import CliRunner

from structnoise import methods
from structnoise.cli import app
from structnoise.methods.dvlae import authors as A
from structnoise.methods.dvlae.network import Architecture, DVLAENet, SignalDecoder
from structnoise.methods.dvlae.profiles import PAPER, QUICK, SMOKE, resolve_architecture
from structnoise.methods.vae.ladder import LadderVAE
from structnoise.methods.vae.network import count_parameters

runner = CliRunner()

PAPER_COUNTS = {"small": 3_104_778, "large": 25_941_386}
BUFFERS = ("running_mean", "running_var", "num_batches_tracked", "kernel_mask")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _random_net(arch, seed=0):
    """A network whose every tensor (prior, BatchNorm statistics included) is random."""
    torch.manual_seed(seed)
    net = DVLAENet(arch)
    with torch.no_grad():
        for name, t in net.state_dict(keep_vars=True).items():
            if name.endswith("num_batches_tracked"):
                t.fill_(7)
            elif name.endswith("running_var"):
                t.uniform_(0.5, 2.0)
            elif t.is_floating_point():
                t.normal_(0, 0.1)
    return net


@pytest.mark.parametrize("preset", ["small", "large"])
def test_paper_profile_has_the_papers_parameter_counts(preset):
    net = DVLAENet(resolve_architecture(preset, PAPER))
    assert count_parameters(net) == PAPER_COUNTS[preset]


def test_paper_profile_options_and_other_profiles_unchanged():
    small = resolve_architecture("small", PAPER)
    large = resolve_architecture("large", PAPER)
    assert (small.gated_stem, small.top_prior, small.shared_sd_middle) == (False, "spatial", True)
    assert small.prior_crop == PAPER.crop == 256
    assert small.top_prior_size() == (4, 4) and large.top_prior_size() == (2, 2)
    for prof in (QUICK, SMOKE):
        arch = resolve_architecture("small", prof)
        assert (arch.gated_stem, arch.top_prior, arch.shared_sd_middle) == (True, "vector", False)
        assert arch.top_prior_size() is None
    # the prior follows a crop given to the method
    model = methods.create("dvlae-small", profile="paper", crop=128)
    assert model.arch.prior_crop == 128 and model.arch.top_prior_size() == (2, 2)


def test_spatial_prior_needs_a_crop():
    arch = resolve_architecture("small", SMOKE, {"top_prior": "spatial"})
    assert arch.prior_crop == SMOKE.crop
    with pytest.raises(ValueError, match="prior_crop"):
        Architecture(top_prior="spatial").top_prior_size()
    with pytest.raises(ValueError, match="top_prior"):
        Architecture(top_prior="grid").top_prior_size()


def test_spatial_top_prior_on_other_sizes():
    vae = LadderVAE(n_filters=8, z_dims=(4, 4), top_prior_size=(2, 3))
    with torch.no_grad():
        vae.top_prior.normal_()
    prior = vae.top_prior
    same = vae._top_prior_like(torch.zeros(2, 8, 2, 3))
    assert same.shape == (2, 8, 2, 3) and torch.equal(same[1], prior[0])
    other = vae._top_prior_like(torch.zeros(1, 8, 5, 4))
    assert other.shape == (1, 8, 5, 4)
    for i in range(5):
        for j in range(4):
            assert torch.equal(other[0, :, i, j], prior[0, :, i % 2, j % 3])
    out = vae(torch.randn(2, 1, 20, 24))  # top level 5 x 6
    assert out.s_code.shape == (2, 8, 20, 24) and all(torch.isfinite(k).all() for k in out.kl)
    vector = LadderVAE(n_filters=8, z_dims=(4, 4))
    assert vector.top_prior.shape == (1, 8, 1, 1)
    assert vector._top_prior_like(torch.zeros(3, 8, 4, 5)).shape == (3, 8, 4, 5)


def test_ungated_stem_and_shared_signal_decoder_middle():
    gated = LadderVAE(n_filters=8, z_dims=(4,))
    plain = LadderVAE(n_filters=8, z_dims=(4,), gated_stem=False)
    assert count_parameters(gated) - count_parameters(plain) == 8 * 16 + 16
    sd = SignalDecoder(8, 16, 5, shared_middle=True)
    assert sd.net[2] is sd.net[4] is sd.net[6] and sd.net[0] is not sd.net[2]
    assert count_parameters(sd) == count_parameters(SignalDecoder(8, 16, 3))
    assert {"net.2.weight", "net.4.weight", "net.6.weight"} <= set(sd.state_dict())


@pytest.mark.parametrize("preset", ["small", "large"])
@pytest.mark.parametrize("axis", ["horizontal", "vertical"])
def test_mapping_round_trips_and_has_the_authors_layout(preset, axis):
    arch = A.paper_architecture(preset, axis)
    ours = _random_net(arch).state_dict()
    theirs = A.to_authors(ours, arch)
    off = 1 if axis == "vertical" else 0
    top = len(arch.z_dims) - 1
    c = arch.n_filters
    side = 4 if preset == "small" else 2  # the top level of a 256 crop
    expected = {
        "vae.first_bottom_up.0.weight": (c, 1, 5, 5),
        "vae.first_bottom_up.2.res.block.5.weight": (c, c, 3, 3),
        f"vae.top_down_layers.{top}.top_prior_params": (1, 2 * arch.z_dims[-1], side, side),
        "vae.top_down_layers.0.merge.layer.1.block.6.conv.weight": (2 * c, c, 1, 1),
        "vae.top_down_layers.0.skip_connection_merger.layer.0.weight": (c, 2 * c, 1, 1),
        f"noise_model.layers.layers.{off}.in_conv.kernel_mask": (1, 1, 1, 5),
        f"noise_model.layers.layers.{off + 7}.s_conv.weight": (64, c, 1, 1),
        "noise_model.out_convs.convs.0.weight": (9, 64, 1, 1),
        "s_decoder.net.4.weight": (c, c, 3, 3),
    }
    for key, shape in expected.items():
        assert tuple(theirs[key].shape) == shape, key
    assert "vae.first_bottom_up.2.res.block.6.conv.weight" not in theirs  # ungated stem
    # counted as the authors' model counts its parameters (shared layer once, no buffers)
    n = sum(
        v.numel()
        for k, v in theirs.items()
        if not k.endswith(BUFFERS) and not k.startswith("s_decoder.net.4.")
    )
    assert n == PAPER_COUNTS[preset]
    assert A.architecture_from_authors(theirs) == arch
    assert A.preset_of(arch) == preset
    back = A.from_authors(theirs, arch)
    assert set(back) == set(ours)
    assert all(torch.equal(back[k], ours[k]) for k in ours)


def test_ar_output_channels_are_permuted():
    arch = A.paper_architecture("small")
    net = _random_net(arch)
    theirs = A.to_authors(net.state_dict(), arch)
    w = theirs["noise_model.out_convs.convs.0.weight"]
    # theirs: channel 3k + t (component k; t = logit, loc, scale); ours: t * K + k
    for k in range(3):
        for t in range(3):
            assert torch.equal(w[3 * k + t], net.ar.out.weight[t * 3 + k])


def test_from_authors_refuses_what_does_not_fit():
    arch = A.paper_architecture("small")
    theirs = A.to_authors(_random_net(arch).state_dict(), arch)
    extra = {**theirs, "vae.something_else": torch.zeros(1)}
    with pytest.raises(A.AuthorsFormatError, match="no place"):
        A.from_authors(extra, arch)
    missing = {k: v for k, v in theirs.items() if k != "vae.first_bottom_up.0.bias"}
    with pytest.raises(A.AuthorsFormatError, match="no 'vae.first_bottom_up.0.bias'"):
        A.from_authors(missing, arch)
    wrong = {**theirs, "s_decoder.net.0.bias": torch.zeros(3)}
    with pytest.raises(A.AuthorsFormatError, match="shape"):
        A.from_authors(wrong, arch)
    unshared = {**theirs, "s_decoder.net.4.weight": theirs["s_decoder.net.4.weight"] + 1}
    with pytest.raises(A.AuthorsFormatError, match="not shared"):
        A.from_authors(unshared, arch)
    assert A.architecture_from_authors(unshared).shared_sd_middle is False
    with pytest.raises(A.AuthorsFormatError, match="rf"):
        A.from_authors(theirs, A.paper_architecture("small", rf=6))


def _checkpoint(tmp_path, arch, *, hparams=None, name="final_model.ckpt"):
    net = _random_net(arch, seed=3)
    ckpt = {
        "epoch": 12,
        "global_step": 3456,
        "pytorch-lightning_version": "2.1.0",
        "state_dict": A.to_authors(net.state_dict(), arch),
        "hyper_parameters": {
            "data_mean": torch.tensor(431.5),
            "data_std": torch.tensor(27.25),
            "n_grad_batches": 4,
            **(hparams or {}),
        },
    }
    path = tmp_path / name
    torch.save(ckpt, path)
    return path, net


def test_import_authors_then_denoise(tmp_path):
    arch = A.paper_architecture("small", "vertical")
    path, net = _checkpoint(tmp_path, arch)
    out = tmp_path / "model"
    result = runner.invoke(app, ["import-authors", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "dvlae-small, axis vertical, rf 40, 3,104,778 parameters" in result.output
    info = json.loads((out / "imported.json").read_text())
    assert (info["epoch"], info["global_step"], info["data_mean"]) == (12, 3456, 431.5)
    model = methods.load(out)
    assert model.name == "dvlae-small" and model.fitted and model.arch == arch
    assert (model.norm.mean, model.norm.std) == (431.5, 27.25)
    loaded = model.net.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in net.state_dict().items())

    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "noisy.tif", rng.normal(430, 30, (2, 48, 72)).astype(np.float32))
    result = runner.invoke(
        app,
        ["denoise", str(out), str(tmp_path / "noisy.tif"), str(tmp_path / "out.tif")]
        + ["--samples", "2", "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    den = tifffile.imread(tmp_path / "out.tif")
    assert den.shape == (2, 48, 72) and np.isfinite(den).all()

    # the options are checked against the checkpoint
    result = runner.invoke(
        app, ["import-authors", str(path), "--out", str(tmp_path / "m2"), "--axis", "horizontal"]
    )
    assert result.exit_code != 0 and "vertical axis" in result.output
    result = runner.invoke(
        app, ["import-authors", str(path), "--out", str(tmp_path / "m3"), "--preset", "large"]
    )
    assert result.exit_code != 0 and "small model" in result.output


def test_import_bare_state_dict_needs_the_normalisation(tmp_path):
    arch = A.paper_architecture("small")
    net = _random_net(arch)
    path = tmp_path / "state.pt"
    torch.save(A.to_authors(net.state_dict(), arch), path)
    with pytest.raises(A.AuthorsFormatError, match="--mean and --std"):
        A.import_checkpoint(path)
    model = A.import_checkpoint(path, mean=1.0, std=2.0, axis="horizontal", preset="small")
    assert (model.norm.mean, model.norm.std) == (1.0, 2.0)


def _fake_module(monkeypatch, name, **attrs):
    mod = types.ModuleType(name)
    for key, value in attrs.items():
        value.__module__, value.__qualname__ = name, key
        setattr(mod, key, value)
    monkeypatch.setitem(sys.modules, name, mod)
    return mod


def test_pickled_modules_are_read_as_inert_placeholders(tmp_path, monkeypatch):
    calls = []

    class LadderVAE:  # stands for the authors' class; never run on load
        def __init__(self):
            self.z_dims = [32] * 6

        def __setstate__(self, state):
            calls.append(state)

    _fake_module(monkeypatch, "lvae")
    _fake_module(monkeypatch, "lvae.models")
    _fake_module(monkeypatch, "lvae.models.lvae", LadderVAE=LadderVAE)
    arch = A.paper_architecture("small")
    path, net = _checkpoint(
        tmp_path,
        arch,
        hparams={"vae": LadderVAE(), "data_mean": np.float64(12.5), "data_std": np.float32(0.5)},
    )
    for name in ("lvae.models.lvae", "lvae.models", "lvae"):
        monkeypatch.delitem(sys.modules, name)
    ckpt = A.read_checkpoint(path)
    assert "lvae.models.lvae.LadderVAE" in ckpt.placeholders
    assert (ckpt.data_mean, ckpt.data_std) == (12.5, 0.5)
    assert not calls
    model = A.import_checkpoint(path)
    assert all(torch.equal(model.net.state_dict()[k], v) for k, v in net.state_dict().items())


def test_other_pickled_code_is_refused(tmp_path):
    arch = A.paper_architecture("small")
    path, _ = _checkpoint(tmp_path, arch, hparams={"hook": os.getcwd})
    with pytest.raises(A.AuthorsFormatError, match="refusing to unpickle"):
        A.read_checkpoint(path)
    result = runner.invoke(app, ["import-authors", str(path), "--out", str(tmp_path / "m")])
    assert result.exit_code != 0 and "getcwd" in result.output
    assert not (tmp_path / "m").exists()
