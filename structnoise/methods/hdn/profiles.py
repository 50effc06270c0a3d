"""HDN's variants, training profiles and registry information.

Profiles (``smoke``/``quick``/``paper``) are :class:`HDNProfile` values, each value with
its reason; :mod:`structnoise.methods.hdn` documents the method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from structnoise.methods.contract import MethodInfo, Profile
from structnoise.methods.vae.options import LRSchedule

#: The registered variants: latent channels per level and unconditional levels.
VARIANTS: dict[str, dict[str, Any]] = {
    "hdn": {"z_dim": 32, "uncond_levels": [], "paper_name": "HDN"},
    "hdn36": {"z_dim": 32, "uncond_levels": [0, 1], "paper_name": "HDN36"},
    "hdn-large": {"z_dim": 64, "uncond_levels": [], "paper_name": "HDN large"},
    "hdn36-large": {"z_dim": 64, "uncond_levels": [0, 1], "paper_name": "HDN36 large"},
}


@dataclass(frozen=True)
class HDNProfile:
    """How to train HDN (and the network width that goes with the budget).

    Attributes
    ----------
    n_filters : int
        Feature channels of the ladder VAE (HDN: 64).
    blocks_per_level : int
        Residual blocks per level and path (HDN: 5).
    dropout : float
        Dropout2d rate in the residual blocks (HDN: 0.2).
    patch : int
        Side of the random training crops (HDN: 64).
    batch : int
        Crops per optimiser step (HDN: 64).
    lr : float
        Adamax learning rate (HDN: 3e-4).
    steps_per_epoch : int
        Steps between validations / learning-rate schedule updates (HDN: 400).
    max_steps : int or None
        Limit on steps (HDN: 500 epochs of 400 steps); None = the time budget only.
    val_fraction : float
        Fraction of the images held out for validation when ``val`` is not given; 0 =
        validate on fixed crops of the training images.
    val_crops : int
        Validation crops (HDN: at most 1000).
    plateau_patience, plateau_factor : int, float
        ReduceLROnPlateau on the validation loss (HDN: 10 epochs, 0.5).
    anneal : bool
        Instead of the plateau schedule, decay the learning rate along a cosine from
        ``lr`` to ``lr / 100`` over the budget (``max_steps`` or the time budget, whichever
        runs out first): short runs end on stable weights.
    early_stop_patience : int or None
        Epochs without improvement before training stops (HDN notebooks: 30); None = off.
    nm_epochs, nm_batch : int, int
        Noise-model fit: careamics iterations and pixel pairs per iteration (HDN: 2000,
        250 000).
    n_samples : int
        Default number of posterior samples of the MMSE estimate (HDN: 100).
    activation : {"mish", "elu"}
        Non-linearity of the ladder's stem and residual blocks (HDN: ELU).
    gate_activation : {"tanh", "elu"}
        Non-linearity of the gates' first half (HDN: ELU).
    upsample : {"nearest", "transposed"}
        Top-down upsampling: nearest x2 + 1x1 conv, or HDN's 3x3 stride-2 transposed conv.
    std_param : {"softplus", "exp"}
        Latent standard deviations: ``softplus(s)``, or HDN's ``exp(s / 2)``.
    final_blocks : int or None
        Residual blocks of the final top-down block; None = ``blocks_per_level`` (HDN).
    padding_mode : {"replicate", "zeros"}
        Padding of the stem, downsampling, stochastic and head convolutions (HDN: zeros).
    notes : str
        Why the profile is what it is.
    """

    n_filters: int = 64
    blocks_per_level: int = 5
    dropout: float = 0.2
    patch: int = 64
    batch: int = 64
    lr: float = 3e-4
    steps_per_epoch: int = 400
    max_steps: int | None = 200_000
    val_fraction: float = 0.15
    val_crops: int = 1000
    plateau_patience: int = 10
    plateau_factor: float = 0.5
    anneal: bool = False
    early_stop_patience: int | None = 30
    nm_epochs: int = 2000
    nm_batch: int = 250_000
    n_samples: int = 100
    activation: str = "mish"
    gate_activation: str = "tanh"
    upsample: str = "nearest"
    std_param: str = "softplus"
    final_blocks: int | None = 1
    padding_mode: str = "replicate"
    notes: str = ""

    @property
    def crop(self) -> int:
        """Side of the training crops (the shared loop's name for ``patch``)."""
        return self.patch

    @property
    def architecture(self) -> dict[str, Any]:
        """The ladder's architecture options (keywords of :class:`HDNNet`)."""
        final = self.blocks_per_level if self.final_blocks is None else self.final_blocks
        return {
            "n_filters": self.n_filters,
            "dropout": self.dropout,
            "blocks_per_level": self.blocks_per_level,
            "activation": self.activation,
            "gate_activation": self.gate_activation,
            "upsample": self.upsample,
            "std_param": self.std_param,
            "final_blocks": final,
            "padding_mode": self.padding_mode,
        }

    @property
    def lr_schedule(self) -> LRSchedule:
        """The learning-rate schedule: a cosine decay with ``anneal``, else the plateau one."""
        return LRSchedule.COSINE if self.anneal else LRSchedule.PLATEAU


#: The HDN authors' settings (juglab/HDN training notebooks and network), for a GPU.
PAPER = HDNProfile(
    activation="elu",
    gate_activation="elu",
    upsample="transposed",
    std_param="exp",
    final_blocks=None,
    padding_mode="zeros",
    notes="HDN code: 64 filters, 5 gated residual blocks per level and in the final "
    "top-down block, ELU (blocks and gates), 3x3 transposed-conv upsampling, std = "
    "exp(logvar / 2), zero padding, dropout 0.2, 64x64 crops, batch 64, Adamax 3e-4, "
    "ReduceLROnPlateau(0.5, 10), early stop after 30 epochs without improvement, at most "
    "500 epochs of 400 steps; GMM fit 2000 x 250k pairs.",
)

#: Minutes on 2 CPU cores. The paper's network costs about 7 s per step of 16 crops there;
#: every change below buys steps, measured on embedded-stripe (see the README). The method
#: (6 levels, latent sizes, free bits, the noise model, MMSE of 100 samples) is unchanged.
QUICK = HDNProfile(
    n_filters=16,  # ~2x the steps of 32 filters per minute and better PSNR per minute
    blocks_per_level=1,  # 5x fewer residual blocks per level
    dropout=0.0,  # dropout slows learning; short runs do not over-fit
    patch=64,
    batch=8,  # more, cheaper steps
    lr=3e-3,  # with the cosine decay below; 1e-3 learnt 2-3x slower in the first minutes
    steps_per_epoch=50,
    max_steps=2500,  # hdn36 passes the noisy input after ~1000 steps on embedded-stripe
    val_fraction=0.0,  # every image is needed for training
    val_crops=16,
    plateau_patience=10,
    plateau_factor=0.5,
    anneal=True,  # without it the last weights swing by +-1.5 dB between epochs
    early_stop_patience=None,  # step/budget-limited; never stop early
    nm_epochs=1000,
    nm_batch=20_000,  # test NLL within 1e-3 nats of the fit with 250k pairs x 2000
    n_samples=100,
    notes="CPU: 16 filters, 1 block per level, no dropout, batch 8, Adamax 3e-3 with a "
    "cosine decay over 2500 steps (or the time budget), noise model 1000 x 20k pairs; "
    "see the comments in structnoise.methods.hdn.",
)

#: Seconds, for tests and the registry's conformance check.
SMOKE = HDNProfile(
    n_filters=8,
    blocks_per_level=1,
    dropout=0.0,
    patch=64,
    batch=4,
    lr=1e-3,
    steps_per_epoch=4,
    max_steps=8,
    val_fraction=0.0,
    val_crops=4,
    plateau_patience=10,
    plateau_factor=0.5,
    early_stop_patience=None,
    nm_epochs=100,
    nm_batch=5000,
    n_samples=4,
    notes="Smoke test only (seconds): 8 filters, 8 steps of 4 crops, 100 GMM iterations.",
)

PROFILES: dict[str, HDNProfile] = {
    Profile.PAPER: PAPER,
    Profile.QUICK: QUICK,
    Profile.SMOKE: SMOKE,
}

#: Profile fields a user may override through method parameters.
PROFILE_PARAMS = (
    "n_filters",
    "blocks_per_level",
    "dropout",
    "patch",
    "batch",
    "lr",
    "max_steps",
    "nm_epochs",
    "nm_batch",
    "anneal",
    "activation",
    "gate_activation",
    "upsample",
    "std_param",
    "final_blocks",
    "padding_mode",
)

#: Profile fields that shape the network (read back from a saved model's settings).
ARCH_FIELDS = (
    "activation",
    "gate_activation",
    "upsample",
    "std_param",
    "final_blocks",
    "padding_mode",
)


def _info(variant: str) -> MethodInfo:
    """The registry information of a variant."""
    large = variant.endswith("-large")
    v36 = variant.startswith("hdn36")
    what = "HDN_{3-6} (two highest-resolution levels take the prior)" if v36 else "HDN"
    return MethodInfo(
        description=f"{what}{', 64 latent channels' if large else ''}: hierarchical VAE "
        "with a Gaussian-mixture noise model; needs clean (or pseudo-clean) images only "
        "to fit the noise model",
        clean_use="calibration",
        extra_noisy=True,
        uses_axis=False,
        learns=True,
        budgets={"smoke": 1.0, "quick": 15.0, "paper": None},
        paper_name=VARIANTS[variant]["paper_name"],
        denoise_options=("n_samples", "tile", "mode", "seed", "precision"),
        snapshots=True,
    )


INFOS = {v: _info(v) for v in VARIANTS}
