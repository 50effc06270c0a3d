"""HDN's network in the ``paper`` profile against the HDN authors' code, and what is left.

Two checks, written to ``--out`` (default ``results/hdn-network``) as ``hdn_network.json`` and
``hdn_network.md``:

* **code** (with ``--hdn DIR``, a checkout of juglab/HDN): parameters of the authors'
  ``LadderVAE`` (6 levels, 64 filters, 5 blocks, 64x64 crops) against ours in the ``paper``
  profile at 32 and 64 latent channels; then the same weights in both (ours with the stem's
  gate removed, the one part the profile does not follow) and the outputs compared: the
  bottom-up features, the signal and the KL of every level, latents at their means, in
  evaluation mode, on 64x64 and 128x192 inputs. Nothing of the authors' code is in this
  repository; their ``lib/utils.py`` imports scikit-learn, stubbed when missing (unused).
* **effects**: ``hdn36`` on ``embedded-stripe``, ``quick`` profile, one seed, ``--steps``
  training steps, PSNR of the MMSE of ``--samples`` samples on the test images, for the
  shared ladder (the quick profile as it is), the quick profile with HDN's network options
  (the paper profile's choices), and the same with HDN's ungated stem block.

Usage::

    python benchmarks/hdn_network.py --hdn /path/to/HDN --steps 800
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import types
from pathlib import Path

from structnoise.provenance import commit_label

ROOT = Path(__file__).resolve().parents[1]

#: The paper profile's network options (HDN's code).
HDN_OPTIONS = {
    "activation": "elu",
    "gate_activation": "elu",
    "upsample": "transposed",
    "std_param": "exp",
    "padding_mode": "zeros",
}


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _ungate_stem(vae) -> None:
    """Drop the gate of the stem's residual block (HDN's code has none there)."""
    from structnoise.methods.vae.ladder import Gate

    body = vae.stem[2].body
    if isinstance(body[-1], Gate):
        vae.stem[2].body = body[:-1]


def _their_ladder(hdn_dir: str, z: int):
    for name in ("sklearn", "sklearn.feature_extraction"):
        try:
            __import__(name)
        except ImportError:
            stub = types.ModuleType(name)
            stub.image = None
            sys.modules[name] = stub
    if hdn_dir not in sys.path:
        sys.path.insert(0, hdn_dir)
    from models.lvae import LadderVAE

    return LadderVAE(z_dims=[z] * 6, device="cpu", data_mean=0.0, data_std=1.0, img_shape=(64, 64))


def _module_pairs(theirs, ours) -> list:
    """Modules of their LadderVAE and ours that hold the same weights in the same order."""
    vae = ours.vae
    pairs = [
        (theirs.first_bottom_up, vae.stem),
        (theirs.final_top_down, vae.final),
        (theirs.likelihood.parameter_net, ours.head),
    ]
    for i, layer in enumerate(theirs.top_down_layers):
        st = layer.stochastic
        pairs += [
            (theirs.bottom_up_layers[i], vae.bottom_up[i]),
            (layer.deterministic_block, vae.top_down[i]),
            (st.conv_in_q, vae.stochastic[i].q_head),
            (st.conv_out, vae.stochastic[i].out),
        ]
        if not layer.is_top_layer:
            pairs += [
                (st.conv_in_p, vae.stochastic[i].p_head),
                (layer.merge.layer, vae.q_merge[i]),
                (layer.skip_connection_merger.layer, vae.skip_merge[i]),
            ]
    return pairs


def check_code(hdn_dir: str) -> dict:
    """Parameter counts and outputs of ours (paper profile) against the authors' network."""
    import torch
    from torch.distributions import Normal

    from structnoise import methods

    res: dict = {"parameters": {}}
    for z, name in ((32, "hdn"), (64, "hdn-large")):
        ours = methods.create(name, profile="paper").build_network()
        theirs_n = _count(_their_ladder(hdn_dir, z))
        ours_n = _count(ours)
        _ungate_stem(ours.vae)
        res["parameters"][str(z)] = {
            "hdn_code": theirs_n,
            "ours_paper": ours_n,
            "difference": ours_n - theirs_n,
            "ours_without_stem_gate": _count(ours),
        }
    torch.manual_seed(0)
    theirs = _their_ladder(hdn_dir, 32)
    with torch.no_grad():  # random BatchNorm statistics, affine parameters and top prior
        for key, v in theirs.state_dict().items():
            if v.dtype.is_floating_point and (v.dim() == 1 or "top_prior" in key):
                v.add_(0.1 * torch.randn_like(v))
                if "running_var" in key:
                    v.abs_()
    ours = methods.create("hdn", profile="paper").build_network()
    _ungate_stem(ours.vae)
    with torch.no_grad():
        for a, b in _module_pairs(theirs, ours):
            sa, sb = list(a.state_dict().values()), list(b.state_dict().values())
            if len(sa) != len(sb) or any(x.shape != y.shape for x, y in zip(sa, sb, strict=True)):
                raise RuntimeError(f"modules do not match: {type(a).__name__}")
            for x, y in zip(sa, sb, strict=True):
                y.copy_(x)
        ours.vae.top_prior.copy_(theirs.top_down_layers[-1].top_prior_params)
    theirs.eval()
    ours.eval()
    rsample = Normal.rsample
    Normal.rsample = lambda self, *a, **k: self.mean  # their latents at their means
    try:
        with torch.no_grad():
            x = torch.randn(3, 1, 64, 64)
            bu = max(
                float((a - b).abs().max())
                for a, b in zip(theirs.bottomup_pass(x), ours.vae.encode_bottom_up(x), strict=True)
            )
            out_t = theirs(x)
            sig, out = ours(x, use_mean=True)
            kl_o = torch.stack([k.sum(dim=(1, 2, 3)).mean() for k in out.kl])
            kl_t = out_t["kl_avg_layerwise"]
            x2 = torch.randn(1, 1, 128, 192)
            big = float((theirs(x2)["out_mean"] - ours(x2, use_mean=True)[0]).abs().max())
    finally:
        Normal.rsample = rsample
    res["outputs"] = {
        "bottom_up_max_abs_diff": bu,
        "signal_max_abs_diff": float((out_t["out_mean"] - sig).abs().max()),
        "signal_max_abs": float(sig.abs().max()),
        "kl_per_level_hdn_code": [float(v) for v in kl_t],
        "kl_per_level_ours": [float(v) for v in kl_o],
        "kl_max_rel_diff": float(((kl_t - kl_o).abs() / kl_t.abs()).max()),
        "signal_128x192_max_abs_diff": big,
    }
    return res


def effect_worker(variant: str, steps: int, samples: int) -> dict:
    """Fit and score one variant (run in its own process)."""
    import numpy as np
    import torch

    from structnoise import methods
    from structnoise.datasets import load_dataset
    from structnoise.methods.hdn import HDN
    from structnoise.metrics import psnr_stack

    torch.set_num_threads(1)
    ds = load_dataset("embedded-stripe")
    params = dict(HDN_OPTIONS) if variant != "shared-ladder" else {}
    if variant == "hdn-options-ungated-stem":
        make = HDN._new_network

        def ungated(self):
            net = make(self)
            _ungate_stem(net.vae)
            return net

        HDN._new_network = ungated
    model = methods.create(
        "hdn36", profile="quick", seed=0, max_steps=steps, max_minutes=120.0, **params
    )
    t0 = time.monotonic()
    model.fit(ds.train_noisy, ds.train_clean, extra_noisy=ds.test_noisy)
    fit_s = time.monotonic() - t0
    out = model.denoise(ds.test_noisy, n_samples=samples)
    return {
        "variant": variant,
        "parameters": model.n_parameters(),
        "steps": model.train_summary["steps"],
        "fit_s": round(fit_s, 1),
        "psnr": float(np.mean(psnr_stack(ds.test_clean, out))),
        "psnr_noisy": float(np.mean(psnr_stack(ds.test_clean, ds.test_noisy))),
    }


VARIANTS = ("shared-ladder", "hdn-options", "hdn-options-ungated-stem")


def _command(argv: list[str]) -> str:
    """The command line, with the folders given replaced by placeholders (no local paths)."""
    words, hide = ["python", "benchmarks/hdn_network.py"], {"--hdn": "HDN_DIR", "--out": "OUT"}
    for i, w in enumerate(argv):
        words.append(hide[argv[i - 1]] if i and argv[i - 1] in hide else w)
    return " ".join(words)


def to_markdown(report: dict) -> str:
    """The report as markdown."""
    m = report["meta"]
    lines = [
        "# HDN's network: the paper profile against juglab/HDN",
        "",
        f"Commit `{m['commit']}`; torch {m['torch']}, Python {m['python']}, {m['machine']}.",
        f"Command: `{m['command']}`",
        "",
    ]
    code = report.get("code")
    if code:
        lines += [
            "## Parameters (6 levels, 64 filters, 5 blocks per level)",
            "",
            "| latent channels | HDN code | ours, paper profile | difference | ours without the "
            "stem's gate |",
            "| --- | --- | --- | --- | --- |",
        ]
        for z, p in code["parameters"].items():
            lines.append(
                f"| {z} | {p['hdn_code']:,} | {p['ours_paper']:,} | {p['difference']:+,} | "
                f"{p['ours_without_stem_gate']:,} |"
            )
        o = code["outputs"]
        lines += [
            "",
            "The difference is the gate (1x1 conv, 64 -> 128 channels) of the stem's residual "
            "block: HDN's code leaves that block ungated.",
            "",
            "## Same weights, same outputs (ours without the stem's gate; latents at their "
            "means, evaluation mode)",
            "",
            "- bottom-up features, 3 x 64x64: max abs difference "
            f"{o['bottom_up_max_abs_diff']:.3g}",
            f"- signal: max abs difference {o['signal_max_abs_diff']:.3g} (signal up to "
            f"{o['signal_max_abs']:.3g}); 128x192 input: {o['signal_128x192_max_abs_diff']:.3g}",
            f"- KL per level: max relative difference {o['kl_max_rel_diff']:.2g} (HDN code "
            f"{[round(v, 2) for v in o['kl_per_level_hdn_code']]})",
            "",
        ]
    eff = report.get("effects")
    if eff:
        lines += [
            f"## Effects: hdn36, embedded-stripe, quick profile, seed 0, {m['steps']} steps, "
            f"MMSE of {m['samples']} samples",
            "",
            f"Noisy input: {eff[0]['psnr_noisy']:.2f} dB. shared-ladder: the quick profile as "
            "it is (Mish, tanh gates, nearest + 1x1 upsampling, softplus, replicate padding); "
            "hdn-options: with the paper profile's HDN options (ELU, ELU gates, transposed "
            "convolutions, exp(logvar / 2), zero padding); hdn-options-ungated-stem: the same "
            "without the stem block's gate (HDN's code; the weights are otherwise initialised "
            "identically). One seed: differences of a few tenths of a dB may be seed noise.",
            "",
            "| network | parameters | steps | fit (s) | PSNR (dB) |",
            "| --- | --- | --- | --- | --- |",
        ]
        for r in eff:
            lines.append(
                f"| {r['variant']} | {r['parameters']:,} | {r['steps']} | {r['fit_s']} | "
                f"{r['psnr']:.2f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hdn", help="a checkout of juglab/HDN (the code check is skipped without)")
    p.add_argument("--steps", type=int, default=800, help="training steps of each variant")
    p.add_argument("--samples", type=int, default=10, help="MMSE samples")
    p.add_argument("--skip-effects", action="store_true")
    p.add_argument("--out", type=Path, default=ROOT / "results" / "hdn-network")
    args = p.parse_args(argv)
    import torch

    report: dict = {
        "meta": {
            "command": _command(argv if argv is not None else sys.argv[1:]),
            "commit": commit_label(ROOT, ("structnoise", "benchmarks")),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
            "steps": args.steps,
            "samples": args.samples,
        }
    }
    if args.hdn:
        report["code"] = check_code(str(Path(args.hdn).resolve()))
        print(json.dumps(report["code"], indent=1))
    if not args.skip_effects:
        report["effects"] = []
        for variant in VARIANTS:
            proc = subprocess.run(
                [sys.executable, __file__, "--worker", variant, str(args.steps), str(args.samples)],
                capture_output=True,
                text=True,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )
            lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if not lines:
                raise RuntimeError(f"{variant} failed:\n{proc.stderr[-3000:]}")
            report["effects"].append(json.loads(lines[-1][len("RESULT ") :]))
            print(report["effects"][-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "hdn_network.json").write_text(json.dumps(report, indent=1))
    (args.out / "hdn_network.md").write_text(to_markdown(report))
    print(to_markdown(report))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        res = effect_worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        print("RESULT " + json.dumps(res), flush=True)
        raise SystemExit(0)
    raise SystemExit(main())
