"""The shared base class of the careamics baselines: :class:`CareamicsDenoiser`.

Training runs through careamics' ``CAREamist`` (:mod:`~structnoise.methods.unet.training`)
with the configuration of :func:`~structnoise.methods.unet.config.build_config`;
prediction applies the trained careamics ``UNet`` with the project's tiling
(:func:`structnoise.methods.tiling.predict_tiled`, reflect padding to a multiple of
``2**depth``, so any image size works), normalised with the mean and standard deviation
of the training inputs (and, for ``care``, of the targets on the way out).

Files: ``save(path)`` writes ``model.pt`` (the UNet's ``state_dict``, loaded with
``torch.load(weights_only=True)``), ``unet.json`` (its constructor arguments) and
``careamics_config.yml`` (the full careamics training configuration, for the record).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from structnoise.methods.base import BaseDenoiser, ModelFolderError
from structnoise.methods.contract import OnePass
from structnoise.methods.summary import StopReason, TrainSummary
from structnoise.methods.tiling import predict_tiled
from structnoise.methods.unet import profiles
from structnoise.methods.unet.config import Algorithm, Augment, build_config
from structnoise.methods.unet.profiles import CareamicsProfile
from structnoise.methods.unet.struct_mask import Span
from structnoise.methods.unet.training import quiet_careamics, train
from structnoise.utils import derive_seed, pick_device

__all__ = ["CareamicsDenoiser"]


def _largest_pow2(n: int) -> int:
    return 1 << (int(n).bit_length() - 1)


class CareamicsDenoiser(BaseDenoiser):
    """A careamics UNet method (N2V family or CARE) behind the structnoise interface.

    Parameters
    ----------
    patch, batch, max_steps, depth, n_filters, lr, mask_percent : optional
        Override the profile's training settings (:class:`CareamicsProfile`).
    augment : {"none", "x_flip", "flips", "all"}, optional
        careamics augmentations (:class:`~structnoise.methods.unet.config.Augment`):
        none, random X flips, X and Y flips, or flips and 90-degree rotations (the
        careamics default; not allowed with a 1-D struct mask).
    batch_norm : bool, optional
        Batch normalisation in the UNet (default: yes for ``care``, as careamics; no for
        ``sn2v`` and ``n2v``, see :class:`StructN2V`).
    tile : int
        Largest tile side at prediction (256); images are reflect-padded to a multiple
        of ``2**depth``.
    tile_overlap : int
        Overlap of prediction tiles in pixels (48, careamics' default).
    device : str, optional
        Torch device; None picks CUDA when available (also for training).
    **common
        ``seed``, ``profile``, ``max_minutes``, ``progress``, ``work_dir`` (see
        :class:`~structnoise.methods.base.BaseDenoiser`).
    """

    min_size: ClassVar[int] = 16
    #: careamics algorithm: "n2v" or "care".
    algorithm: ClassVar[Algorithm] = "n2v"
    #: augmentation when the user gives none.
    default_augment: ClassVar[Augment] = Augment.ALL
    #: UNet predicts a correction added to its input (CSBDeep's CARE default; n2v: no).
    residual: ClassVar[bool] = False
    #: Batch normalisation in the UNet unless the user says otherwise (careamics: yes).
    default_batch_norm: ClassVar[bool] = True

    def __init__(
        self,
        *,
        augment: Augment | str | None = None,
        batch_norm: bool | None = None,
        tile: int = 256,
        tile_overlap: int = 48,
        device: str | None = None,
        **params: Any,
    ) -> None:
        extra = self._method_params()
        unknown = set(params) - set(profiles.OVERRIDES) - set(self.common_params) - set(extra)
        if unknown:
            known = ["augment", "batch_norm", "tile", "tile_overlap", "device"]
            known += [*profiles.OVERRIDES, *extra]
            raise TypeError(
                f"unknown parameter(s) {sorted(unknown)} for {type(self).__name__}; "
                f"known: {', '.join(known)}"
            )
        if augment is not None:
            Augment.parse(augment)
        if int(tile) < 16:
            raise ValueError(f"tile must be at least 16 pixels, got {tile}")
        if int(tile_overlap) < 0:
            raise ValueError(f"tile_overlap must be >= 0, got {tile_overlap}")
        profiles.check_overrides(params)
        if batch_norm is not None and not isinstance(batch_norm, bool):
            raise ValueError(f"batch_norm must be true or false, got {batch_norm!r}")
        super().__init__(
            augment=augment,
            batch_norm=batch_norm,
            tile=int(tile),
            tile_overlap=int(tile_overlap),
            device=device,
            **params,
        )
        self.net = None
        self.unet_params: dict[str, Any] | None = None
        self.careamics_config: dict[str, Any] | None = None
        self.norm: dict[str, float] = {}
        self.train_summary: dict[str, Any] = {}
        #: ``(marks, fn)`` or ``(steps, fn, "steps")``: ``fn(method, info)`` is called at
        #: each mark during ``fit`` with the method usable as fitted (see
        #: :mod:`structnoise.methods.unet.snapshots`).
        self.snapshot_hook: tuple | None = None

    # -------------------------------------------------------------- configuration
    @classmethod
    def _method_params(cls) -> tuple[str, ...]:
        """Names of the subclass's own parameters (beyond the common ones)."""
        return ()

    @property
    def training_profile(self) -> CareamicsProfile:
        """The profile's settings with the user's overrides applied."""
        return profiles.resolve(self.profile, self.params)

    @property
    def device(self) -> str:
        """The torch device used for training and prediction."""
        return pick_device(self.params.get("device"))

    @property
    def batch_norm(self) -> bool:
        """Whether the UNet uses batch normalisation."""
        value = self.params.get("batch_norm")
        return self.default_batch_norm if value is None else bool(value)

    @property
    def augment(self) -> Augment:
        """The augmentation in use."""
        return Augment(self.params.get("augment") or self.default_augment)

    def _struct_mask(self, noisy, clean) -> tuple[str, Span | None]:
        """``(struct_n2v_axes, span)`` of the N2V family ("none", 0 for no mask)."""
        return "none", 0

    # -------------------------------------------------------------- training
    def _fit(self, noisy: np.ndarray, clean: np.ndarray | None, val) -> None:
        prof = self.training_profile
        # min_size (16) and the override checks keep the patch a power of two >= 8
        patch = min(prof.patch, _largest_pow2(min(noisy.shape[1:])))
        x_std = float(np.std(noisy, dtype=np.float64))
        if not x_std > 0:
            raise ValueError(f"{self.name}: the training images are constant; nothing to learn")
        self.norm = {"mean": float(np.mean(noisy, dtype=np.float64)), "std": x_std}
        data: dict[str, Any] = {"train_data": noisy}
        if self.algorithm == "care":
            t_std = float(np.std(clean, dtype=np.float64))
            self.norm.update(
                t_mean=float(np.mean(clean, dtype=np.float64)), t_std=t_std if t_std > 0 else 1.0
            )
            data["train_data_target"] = clean
        has_val = False
        if val is not None:
            vn, vc = val
            if self.algorithm != "care":
                data["val_data"], has_val = vn, True
            elif vc is not None:
                data.update(val_data=vn, val_data_target=vc)
                has_val = True
        # careamics takes n_val patches out of the training data when no val is given
        n_patches = max(1, noisy.size // patch**2)
        n_val = 0 if has_val else int(min(8, max(1, n_patches // 5)))

        quiet = not self.progress
        with quiet_careamics(quiet):  # careamics' import creates its loggers: import it first
            import careamics  # noqa: F401
        with quiet_careamics(quiet):
            cfg = build_config(
                self.algorithm,
                prof,
                n_pixels=noisy.size,
                patch=patch,
                n_val=max(n_val, 1),
                seed=derive_seed(self.seed, self.name, "careamics") + 1,  # careamics: > 0
                budget_minutes=self.budget_minutes,
                cuda=self.device.startswith("cuda"),
                augment=self.augment,
                residual=self.residual,
                batch_norm=self.batch_norm,
                norm=self.norm,
                struct=self._struct_mask(noisy, clean) if self.algorithm == "n2v" else ("none", 0),
            )
        callbacks = self._snapshot_callbacks(cfg, noisy)
        run = train(
            cfg,
            data,
            name=self.name,
            work_dir=self.work_dir,
            progress=self.progress,
            callbacks=callbacks,
        )
        self.history = run.history
        # the last value of each loss (the last epoch, cut short by the step or time
        # limit, often has no validation)
        columns = {"train_loss_epoch": "train_loss", "val_loss": "val_loss"}
        final = {columns[k]: v for row in run.history for k, v in row.items() if k in columns}
        self.train_summary = TrainSummary(
            steps=run.steps,
            minutes=round(run.seconds / 60.0, 3),
            stopped_by=StopReason.MAX_STEPS
            if run.steps >= prof.max_steps
            else StopReason.TIME_BUDGET,
            final=dict(sorted(final.items())),
            extra={"epochs": run.epochs, "patch": patch, "seconds": round(run.seconds, 2)},
        ).to_dict()
        self.careamics_config = run.config
        self.unet_params = run.unet_params
        run.net.eval()
        self.net = run.net.to("cpu")

    def _snapshot_callbacks(self, cfg, noisy: np.ndarray) -> list:
        """The Lightning callback that runs ``snapshot_hook`` (none without a hook)."""
        if self.snapshot_hook is None:
            return []
        from structnoise.methods.unet.snapshots import SnapshotCallback
        from structnoise.methods.vae.callbacks import Snapshots

        # what denoise needs besides the live network, known before training
        self.unet_params = cfg.algorithm_config.model.model_dump(mode="json")
        self.record_data_range(noisy)
        return [SnapshotCallback(self, Snapshots.from_hook(self.snapshot_hook, self))]

    # -------------------------------------------------------------- prediction
    def _forward(self, batch: np.ndarray) -> np.ndarray:
        import torch

        dev = self.device
        if next(self.net.parameters()).device.type != torch.device(dev).type:
            self.net.to(dev)
        mean, std = self.norm["mean"], self.norm["std"]
        out_mean = self.norm.get("t_mean", mean)
        out_std = self.norm.get("t_std", std)
        t = torch.from_numpy(((batch - mean) / std).astype(np.float32))[:, None].to(dev)
        with torch.no_grad():
            y = self.net(t)[:, 0].float().cpu().numpy()
        return y * out_std + out_mean

    def one_pass_network(self) -> OnePass:
        """The trained careamics UNet as a one-pass network (for ``structnoise export``).

        Returns
        -------
        OnePass
            Architecture ``careamics.models.unet.UNet`` with the saved parameters.

        Raises
        ------
        ValueError
            When the model is not fitted.
        """
        if self.net is None:
            raise ValueError("the model is not fitted")
        norm = self.norm
        return OnePass(
            method=self.name,
            network=self.net.cpu().eval(),
            architecture={
                "library": "careamics.models.unet",
                "callable": "UNet",
                "kwargs": dict(self.unet_params),
            },
            in_mean=norm["mean"],
            in_std=norm["std"],
            out_mean=norm.get("t_mean", norm["mean"]),
            out_std=norm.get("t_std", norm["std"]),
            multiple=2 ** int(self.unet_params.get("depth", 2)),
            summary=f"{self.name} UNet trained with careamics",
            tags=["denoising", self.name, "careamics", "unet"],
        )

    def _denoise(
        self, noisy: np.ndarray, *, tile: int | None = None, tile_overlap: int | None = None
    ) -> np.ndarray:
        tile = int(self.params["tile"] if tile is None else tile)
        overlap = int(self.params["tile_overlap"] if tile_overlap is None else tile_overlap)
        if tile < 16 or overlap < 0:
            raise ValueError(f"{self.name}: tile must be >= 16 and tile_overlap >= 0")
        multiple = 2 ** int(self.unet_params.get("depth", 2))
        self.net.eval()
        return predict_tiled(
            self._forward,
            noisy,
            tile=tile,
            overlap=overlap,
            multiple=multiple,
            progress=self.progress,
            desc=self.name,
        )

    # -------------------------------------------------------------- persistence
    def _save_state(self, path: Path) -> None:
        import torch
        import yaml

        from structnoise.utils import atomic_path

        if self.net is None:
            return
        with atomic_path(path / "model.pt") as tmp:
            torch.save({k: v.detach().cpu() for k, v in self.net.state_dict().items()}, tmp)
        with atomic_path(path / "unet.json") as tmp:
            tmp.write_text(json.dumps(self.unet_params, indent=2))
        with atomic_path(path / "careamics_config.yml") as tmp:
            tmp.write_text(yaml.safe_dump(self.careamics_config, sort_keys=False))

    def _load_state(self, path: Path, extra: dict) -> None:
        import torch
        from careamics.models.unet import UNet

        self.norm = _read_norm(path, extra.get("norm", {}))
        saved = extra.get("train_summary") or {}
        summary = TrainSummary.from_dict(saved) if isinstance(saved, dict) else None
        self.train_summary = saved if summary is None else summary.to_dict()
        if not (path / "model.pt").is_file():
            return
        self.unet_params = _read_unet_json(path / "unet.json")
        try:
            net = UNet(**self.unet_params)
        except (TypeError, ValueError) as exc:
            raise ModelFolderError(
                f"{path / 'unet.json'}: not the settings of careamics' UNet ({exc}); the file "
                "was edited or damaged: train the model again"
            ) from None
        state = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        net.eval()
        self.net = net
        cfg_file = path / "careamics_config.yml"
        if cfg_file.is_file():
            self.careamics_config = _read_careamics_yaml(cfg_file)

    def _extra_meta(self) -> dict:
        return {"norm": self.norm, "train_summary": self.train_summary}

    def _state_complete(self) -> bool:
        return self.net is not None


_REDO = "the file was edited or damaged: train the model again"


def _read_norm(path: Path, norm: Any) -> dict[str, float]:
    """The saved normalisation (``method.json`` ``extra.norm``), checked."""
    where = f"{path / 'method.json'}: extra.norm"
    if not isinstance(norm, dict):
        raise ModelFolderError(f"{where} must be a JSON object, got {norm!r}; {_REDO}")
    out: dict[str, float] = {}
    for key, value in norm.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise ModelFolderError(f"{where}.{key} must be a finite number, got {value!r}; {_REDO}")
        if key.endswith("std") and value <= 0:
            raise ModelFolderError(f"{where}.{key} must be > 0, got {value!r}; {_REDO}")
        out[key] = float(value)
    return out


def _read_unet_json(file: Path) -> dict[str, Any]:
    """The UNet's constructor arguments from ``unet.json``, checked for type."""
    try:
        params = json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFolderError(f"{file}: not valid JSON ({exc}); {_REDO}") from None
    if not isinstance(params, dict):
        raise ModelFolderError(f"{file}: expected a JSON object, got {params!r:.80}; {_REDO}")
    return params


def _read_careamics_yaml(file: Path) -> dict[str, Any]:
    """The careamics configuration kept for the record, read as plain YAML (no tags)."""
    import yaml

    try:
        cfg = yaml.safe_load(file.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        detail = str(exc).splitlines()[0]
        raise ModelFolderError(f"{file}: not plain YAML ({detail}); {_REDO}") from None
    if not isinstance(cfg, dict):
        raise ModelFolderError(f"{file}: expected a YAML mapping, got {cfg!r:.80}; {_REDO}")
    return cfg
