"""Training data of the ladder-VAE methods: normalisation, validation split, random crops."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Normalisation:
    """The affine map between data units and the network's units: ``(x - mean) / std``.

    Saved in ``method.json`` as ``{"norm": {"mean": ..., "std": ...}}``; models saved
    before that entry existed kept ``mean``/``std`` (DVLAE) or ``data_mean``/``data_std``
    (HDN) and still load (:meth:`from_meta`; tested in ``test_dvlae`` and ``test_hdn``).

    Attributes
    ----------
    mean, std : float
        Of the training images' pixels.
    """

    mean: float = 0.0
    std: float = 1.0

    @classmethod
    def fit(cls, images: np.ndarray | Sequence[np.ndarray]) -> Normalisation:
        """Mean and standard deviation of every pixel of the training images, in float64.

        Parameters
        ----------
        images : numpy.ndarray or sequence of numpy.ndarray
            An ``(N, Y, X)`` stack, reduced as it is, or images of any sizes, whose
            pixels are concatenated first. (The two sums differ in the last bits on large
            data; each method keeps the one its saved models were trained with.)

        Returns
        -------
        Normalisation

        Raises
        ------
        ValueError
            When the images are constant.
        """
        if isinstance(images, np.ndarray):
            mean = float(np.mean(images, dtype=np.float64))
            std = float(np.std(images, dtype=np.float64))
        else:
            flat = np.concatenate([np.ravel(im) for im in images]).astype(np.float64)
            mean, std = float(flat.mean()), float(flat.std())
        if not std > 0:
            raise ValueError("noisy: the training images are constant; nothing to learn")
        return cls(mean, std)

    def apply(self, x):
        """Data units to network units (arrays or tensors)."""
        return (x - self.mean) / self.std

    def invert(self, x):
        """Network units to data units (arrays or tensors)."""
        return x * self.std + self.mean

    def tensors(self, images: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """Normalised float32 ``(1, Y, X)`` tensors of ``(Y, X)`` images.

        Parameters
        ----------
        images : sequence of numpy.ndarray
            An ``(N, Y, X)`` stack or a list of images.

        Returns
        -------
        list of torch.Tensor
        """
        return [torch.from_numpy(self.apply(im).astype(np.float32))[None] for im in images]

    def to_dict(self) -> dict[str, float]:
        """JSON-ready form."""
        return {"mean": self.mean, "std": self.std}

    @classmethod
    def from_meta(cls, extra: dict) -> Normalisation:
        """Read the normalisation from the ``extra`` part of a saved ``method.json``.

        Parameters
        ----------
        extra : dict
            With ``norm``, or (older models) ``mean``/``std`` or ``data_mean``/``data_std``.

        Returns
        -------
        Normalisation
        """
        pairs = [("norm", "mean", "std"), (None, "mean", "std"), (None, "data_mean", "data_std")]
        for group, mean, std in pairs:
            source = extra.get(group) if group else extra
            if group and group not in extra:
                continue
            if not isinstance(source, dict) or mean not in source:
                if group:
                    raise ValueError(f"method.json: extra.norm must hold mean and std: {source!r}")
                continue
            values = []
            for key in (mean, std):
                value = source.get(key)
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"method.json: {key} must be a number, got {value!r}")
                values.append(float(value))
            if not (np.isfinite(values).all() and values[1] > 0):
                raise ValueError(
                    f"method.json: the normalisation needs a finite mean and std > 0: {values}"
                )
            return cls(*values)
        raise KeyError("norm: the saved model has no normalisation")


def split_validation(images, val, fraction: float, seed: int):
    """Training and validation images: ``val`` if given, else a seeded hold-out, else all.

    Parameters
    ----------
    images : numpy.ndarray or list of numpy.ndarray
        A stack or a list of images.
    val : numpy.ndarray or list of numpy.ndarray or None
        Validation images given by the user.
    fraction : float
        Fraction of ``images`` held out (at least one image) when ``val`` is None; 0 (or a
        single image) validates on the training images themselves.
    seed : int
        Seed of the random choice.

    Returns
    -------
    train, val : same type as ``images``
    held_out : bool
        False when the validation images are the training images.
    """
    if val is not None:
        return images, val, True
    if fraction > 0 and len(images) >= 2:
        order = np.random.default_rng(seed).permutation(len(images))
        n_val = max(1, int(round(fraction * len(images))))
        return _take(images, order[n_val:]), _take(images, order[:n_val]), True
    return images, images, False


def _take(images, idx: np.ndarray):
    if isinstance(images, np.ndarray):
        return images[idx]
    return [images[i] for i in idx]


class RandomCrops(torch.utils.data.Dataset):
    """``length`` batches of random crops, drawn in order from a seeded generator.

    Two ways to draw, each in the order that gave its method's results (a seed gives the
    same crops as before):

    * ``by_area=False`` (DVLAE): images of one size; crops of ``min(crop, Y)`` by
      ``min(crop, X)``; per batch the image indices, then the rows, then the columns.
    * ``by_area=True`` (HDN): images of any sizes, drawn with probability proportional to
      their area; square crops of ``crop`` or the smallest image side; per crop its row,
      its column and, with ``augment``, one of the 8 rotations/flips.

    Parameters
    ----------
    images : sequence of torch.Tensor
        ``(1, Y, X)`` normalised images (CPU).
    crop : int
        Largest crop side.
    batch : int
        Crops per batch.
    length : int
        Batches per epoch.
    seed : int
        Seed of the crop positions and transforms.
    by_area : bool
        The drawing scheme (see above).
    augment : bool
        Random dihedral transforms (``by_area`` only).
    """

    def __init__(
        self,
        images: Sequence[torch.Tensor],
        crop: int,
        batch: int,
        length: int,
        seed: int,
        *,
        by_area: bool = False,
        augment: bool = False,
    ) -> None:
        self.images = list(images)
        self.ch, self.cw = self.crop_shape(self.images, crop, by_area)
        self.batch = int(batch)
        self.length = int(length)
        self.by_area = bool(by_area)
        self.augment = bool(augment)
        if self.by_area:
            area = torch.tensor([float(im.shape[-2] * im.shape[-1]) for im in self.images])
            self.weights = area / area.sum()
        self.gen = torch.Generator().manual_seed(int(seed))

    @staticmethod
    def crop_shape(images: Sequence[torch.Tensor], crop: int, by_area: bool) -> tuple[int, int]:
        """Crop height and width for ``images`` (see the class)."""
        if by_area:
            side = min([int(crop)] + [min(im.shape[-2:]) for im in images])
            return side, side
        y, x = images[0].shape[-2:]
        return min(int(crop), y), min(int(crop), x)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.draw(self.batch)

    def draw(self, n: int) -> torch.Tensor:
        """``n`` crops ``(n, 1, ch, cw)``.

        Parameters
        ----------
        n : int
            Number of crops.

        Returns
        -------
        torch.Tensor
        """
        if self.by_area:
            return torch.stack([self._crop_by_area(int(i)) for i in self._image_indices(n)])
        y, x = self.images[0].shape[-2:]
        idx = torch.randint(0, len(self.images), (n,), generator=self.gen)
        ys = torch.randint(0, y - self.ch + 1, (n,), generator=self.gen)
        xs = torch.randint(0, x - self.cw + 1, (n,), generator=self.gen)
        return torch.stack(
            [
                self.images[i][:, y0 : y0 + self.ch, x0 : x0 + self.cw]
                for i, y0, x0 in zip(idx.tolist(), ys.tolist(), xs.tolist(), strict=True)
            ]
        )

    def _image_indices(self, n: int) -> list[int]:
        return torch.multinomial(self.weights, n, replacement=True, generator=self.gen).tolist()

    def _crop_by_area(self, i: int) -> torch.Tensor:
        im, c = self.images[i], self.ch
        y0 = int(torch.randint(0, im.shape[-2] - c + 1, (1,), generator=self.gen))
        x0 = int(torch.randint(0, im.shape[-1] - c + 1, (1,), generator=self.gen))
        patch = im[:, y0 : y0 + c, x0 : x0 + c]
        if self.augment:
            k = int(torch.randint(0, 8, (1,), generator=self.gen))
            patch = torch.rot90(patch, k % 4, dims=(1, 2))
            if k >= 4:
                patch = torch.flip(patch, dims=(2,))
        return patch


def crops_that_fit(crops: RandomCrops) -> int:
    """Crops of ``crops``' shape that fit into its images: ``sum max(1, (Y * X) // (ch * cw))``.

    The DVLAE authors' rule for the crops of an epoch (their dataset repeats every image
    that many times under a random-crop transform).

    Parameters
    ----------
    crops : RandomCrops
        The images and the crop shape.

    Returns
    -------
    int
    """
    area = crops.ch * crops.cw
    return sum(max(1, (im.shape[-2] * im.shape[-1]) // area) for im in crops.images)


class ResampledCrops(torch.utils.data.Dataset):
    """``n`` random crops in batches of ``batch``, drawn anew on every pass.

    Validation data as the DVLAE authors draw it: each epoch's validation loop reads new
    crops from ``crops``' generator (the last batch holds the remainder).

    Parameters
    ----------
    crops : RandomCrops
        The images, crop shape and seeded generator to draw from.
    n : int
        Crops per pass.
    batch : int
        Crops per batch.
    """

    def __init__(self, crops: RandomCrops, n: int, batch: int) -> None:
        if n < 1 or batch < 1:
            raise ValueError(f"need at least one crop and batch, got n={n}, batch={batch}")
        self.crops = crops
        self.n = int(n)
        self.batch = int(batch)

    def __len__(self) -> int:
        return -(-self.n // self.batch)

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.crops.draw(min(self.batch, self.n - index * self.batch))


def epoch_length(crops: RandomCrops, steps_per_epoch: int | None, max_steps: int | None) -> int:
    """Batches per epoch: ``steps_per_epoch``, or as many crops as fit into the images.

    Parameters
    ----------
    crops : RandomCrops
        The training crops (their images, crop shape and batch size).
    steps_per_epoch : int or None
        Given length; None applies the DVLAE authors' rule: every image contributes
        ``max(1, (Y * X) // (ch * cw))`` crops.
    max_steps : int or None
        An epoch is never longer than the whole run.

    Returns
    -------
    int
    """
    if steps_per_epoch is not None:
        per_epoch = int(steps_per_epoch)
    else:
        per_epoch = max(1, crops_that_fit(crops) // crops.batch)
    if max_steps is not None:
        per_epoch = max(1, min(per_epoch, int(max_steps)))
    return per_epoch
