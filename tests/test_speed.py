"""The speed levers of the ladder VAEs compute the same function as the plain network."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from structnoise.methods.dvlae.network import Architecture, DVLAENet
from structnoise.methods.vae.inference import available_memory, fold_batchnorm, mmse_chunk
from structnoise.methods.vae.ladder import LadderVAE, PointwiseConv2d


def _small_net(seed: int = 0) -> DVLAENet:
    torch.manual_seed(seed)
    arch = Architecture(n_filters=16, z_dims=[4, 4, 4], downsample=[True, True, True], rf=6)
    net = DVLAENet(arch)
    # running statistics far from (0, 1), so that a wrong fold shows
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.3, 3.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)
    return net.eval()


def test_fold_batchnorm_same_function_and_original_untouched():
    net = _small_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    folded = fold_batchnorm(net)
    x = torch.randn(2, 1, 24, 24)
    with torch.no_grad():
        ref = net.signal(x, use_mean=True)
        out = folded.signal(x, use_mean=True)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    # the second batch norm of every residual block follows a convolution: folded away
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    n_left = sum(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert n_left == n_bn // 2
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not any(p.requires_grad for p in folded.parameters())


def test_fold_batchnorm_dropping_the_norms_would_show():
    # the comparison above can fail: the same copy with the folded batch norms simply
    # removed (weights not rescaled) computes something else
    import copy

    net = _small_net()
    dropped = copy.deepcopy(net)
    for module in dropped.modules():
        if isinstance(module, nn.Sequential):
            for i in range(1, len(module)):
                if type(module[i - 1]) is nn.Conv2d and isinstance(module[i], nn.BatchNorm2d):
                    module[i] = nn.Identity()
    x = torch.randn(1, 1, 24, 24)
    with torch.no_grad():
        diff = (net.signal(x, use_mean=True) - dropped.signal(x, use_mean=True)).abs().max()
    assert diff > 1e-3


@pytest.mark.parametrize("channels_last", [False, True])
def test_pointwise_conv_matches_conv2d(channels_last):
    torch.manual_seed(0)
    pw = PointwiseConv2d(8, 12)
    ref = nn.Conv2d(8, 12, 1)
    ref.load_state_dict(pw.state_dict())
    assert set(pw.state_dict()) == {"weight", "bias"}
    x = torch.randn(3, 8, 5, 7)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    out = pw(x)
    torch.testing.assert_close(out, ref(x), rtol=1e-5, atol=1e-6)
    assert out.shape == (3, 12, 5, 7)
    if channels_last:
        assert out.is_contiguous(memory_format=torch.channels_last)


def test_top_down_without_kl_same_code_and_no_kl():
    torch.manual_seed(0)
    vae = LadderVAE(n_filters=8, z_dims=[4, 4], downsample=[True, True]).eval()
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        bu = vae.encode_bottom_up(x)
        torch.manual_seed(1)
        full = vae.decode_top_down(bu, (16, 16))
        torch.manual_seed(1)
        fast = vae.decode_top_down(bu, (16, 16), with_kl=False)
    torch.testing.assert_close(fast.s_code, full.s_code, rtol=0, atol=0)
    assert fast.kl == []
    assert len(full.kl) == 2 and all(k.shape[1] == 4 for k in full.kl)


def test_mmse_chunk_from_speed_and_memory():
    px = 256 * 256
    # speed bound: one 256x256 sample per pass; 4 samples of a 128x128 tile
    assert mmse_chunk(100, px, 64, max_pixels=2**16, free_bytes=2**40) == 1
    assert mmse_chunk(100, 128 * 128, 64, max_pixels=2**16, free_bytes=2**40) == 4
    assert mmse_chunk(3, 64 * 64, 64, max_pixels=2**16, free_bytes=2**40) == 3
    # memory bound: 8 samples' activations need 8 * 4096 * 64 * 32 bytes = 64 MiB,
    # a quarter of 128 MiB free holds only 4 of them
    assert mmse_chunk(100, 4096, 64, max_pixels=2**30, free_bytes=128 * 2**20) == 4
    # never below one sample, however little memory is free
    assert mmse_chunk(100, px, 64, max_pixels=2**30, free_bytes=0) == 1
    with pytest.raises(ValueError, match="must be positive"):
        mmse_chunk(0, px, 64, max_pixels=2**16, free_bytes=2**30)


def test_available_memory_is_positive():
    assert available_memory("cpu") > 0


def test_denoise_records_the_chunk_and_keeps_the_network():
    from structnoise import methods

    model = methods.create("dvlae-small", profile="smoke", seed=0, n_samples=3)
    model.net = model.build_network()
    model.mean, model.std, model.fitted = 0.0, 1.0, True
    state = {k: v.clone() for k, v in model.net.state_dict().items()}
    out = model.denoise(torch.rand(32, 32).numpy(), n_samples=3)
    assert out.shape == (32, 32)
    assert model.last_mmse_chunk == 3
    for k, v in model.net.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_precision_probe_leaves_the_global_generator_alone():
    # "auto" precision times bfloat16 once per process; that probe must not consume torch's
    # global random numbers, or the first training of a process would differ from later
    # ones with the same seed
    from structnoise.methods.vae import device

    device._cpu_bf16_faster.cache_clear()
    torch.manual_seed(123)
    expected = torch.rand(5)
    torch.manual_seed(123)
    device.resolve_precision("auto", "cpu")
    assert torch.equal(torch.rand(5), expected)
