"""Patch datasets and loaders shared by the image-based predictors.

A :class:`SpotImageDataset` turns a :class:`~stbench.data.spots.SpotData` into samples
``(image, expression)`` (training) or ``image`` (prediction), where ``image`` is a uint8 patch
(3, size, size) or, with a transform, a float32 ImageNet-normalised one, and ``expression``
float32 (n_genes,) in log1p space. Training batches are augmented on the device, whole
batches at a time (:mod:`stbench.torchkit.augment`: the GenST paper's Appendix A).

Colour (``colour``): ``raw`` keeps the pixels; ``slide`` standardises each slide's colour before
anything else (:func:`standardise_colour`), from that slide's own patches only, so a model cannot
read a section's staining as a proxy for its sequencing depth (seen on the real MOB sections:
ST-Net read animal 2's test section as the low-depth animal and fell under the mean floor).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from stbench.data.images import resized_patches
from stbench.data.spots import PATCH_SIZE, Slide, SpotData
from stbench.errors import StbenchError
from stbench.predictor import Predictor
from stbench.torchkit.augment import BatchAugment, normalise
from stbench.torchkit.training import config_from, make_loader, resolve_device, seed_everything, to_device

Transform = Callable[[torch.Tensor], torch.Tensor]
"""Maps a uint8 image (3, H, W) to a float32 normalised image (3, H, W)."""


def eval_transform() -> Transform:
    """The validation/test transform: uint8 (3, H, W) [0, 255] -> float32 [0, 1] (times 1/255,
    bit for bit torchvision's ``ToDtype(scale=True)``) -> per-channel ImageNet mean/std
    normalisation (:func:`~stbench.torchkit.augment.normalise`)."""
    return lambda image: normalise(image.float().mul_(1.0 / 255))


COLOURS = ("raw", "slide")
COLOUR_TARGET_MEAN = (123.675, 116.28, 103.53)
COLOUR_TARGET_STD = (58.395, 57.12, 57.375)
"""Per-channel mean and std (uint8 scale) each slide is mapped to by ``colour="slide"``:
ImageNet's, so that after :func:`~stbench.torchkit.augment.normalise` every slide has zero mean
and unit variance per channel."""
COLOUR_SAMPLE = 256
"""Spots per slide (evenly spaced rows) whose patches give the slide's colour statistics."""


_COLOUR_STATS: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}


def slide_colour_stats(slide: Slide, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (float64 (3,), uint8 scale) of up to :data:`COLOUR_SAMPLE`
    evenly spaced patches of ``slide`` at ``image_size`` px (a zero std becomes 1); computed once
    per process for each slide's patch content and size (validation builds a dataset each epoch)."""
    key = (slide.patch_key, image_size)
    if key not in _COLOUR_STATS:
        _COLOUR_STATS[key] = _colour_stats(slide, image_size)
    return _COLOUR_STATS[key]


def _colour_stats(slide: Slide, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.unique(np.linspace(0, slide.n_spots - 1, min(COLOUR_SAMPLE, slide.n_spots)).round().astype(np.int64))
    pixels = np.stack([resize_patch(p, image_size) for p in slide.patches(rows)]).reshape(-1, 3).astype(np.float64)
    std = pixels.std(axis=0)
    return pixels.mean(axis=0), np.where(std > 0, std, 1.0)


def standardise_colour(patches: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """uint8 (..., 3) -> uint8 (..., 3): each channel moved from the slide's ``mean``/``std`` to
    :data:`COLOUR_TARGET_MEAN`/:data:`COLOUR_TARGET_STD` (a Reinhard-style transfer in RGB), rounded
    and clipped to [0, 255]."""
    target_mean, target_std = np.asarray(COLOUR_TARGET_MEAN), np.asarray(COLOUR_TARGET_STD)
    out = (patches.astype(np.float32) - mean.astype(np.float32)) * (target_std / std).astype(np.float32)
    return np.clip(np.rint(out + target_mean.astype(np.float32)), 0, 255).astype(np.uint8)


def resize_patch(patch: np.ndarray, size: int) -> np.ndarray:
    """One uint8 (224, 224, 3) patch resized to (size, size, 3), bilinear with antialiasing
    (the same resampling as :func:`stbench.data.images.resized_patches`)."""
    if patch.shape[0] == size:
        return patch
    x = torch.from_numpy(np.ascontiguousarray(patch)).permute(2, 0, 1)[None].float()
    y = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return y[0].round().clamp(0, 255).byte().permute(1, 2, 0).numpy()


class SpotImageDataset(Dataset):
    """Spots of a :class:`SpotData` as ``(image, expression)`` or ``image`` samples.

    Args:
        data: the slides; rows follow ``data``'s order (slide by slide).
        image_size: side in pixels of the returned images.
        transform: uint8 (3, H, W) -> float32 (3, H, W), e.g. :func:`eval_transform`;
            ``None`` returns the uint8 patch.
        with_expression: return ``(image, expression)``; reads every slide's expression once
            (float32, held in memory). ``False`` never touches expression, so it is safe on
            held-out slides.
        preload: hold all patches in memory at ``image_size`` (through the shared
            :func:`~stbench.data.images.resized_patches` cache; right for small images).
            ``False`` reads each patch from its slide when asked (right for 224 px on big
            cohorts, where the loader's workers do the reading).
        colour: ``raw`` or ``slide`` (each slide's colour standardised, see the module docstring).
    """

    def __init__(
        self,
        data: SpotData,
        *,
        image_size: int,
        transform: Transform | None,
        with_expression: bool,
        preload: bool,
        colour: str = "raw",
    ) -> None:
        if not 0 < image_size <= PATCH_SIZE:
            raise StbenchError(f"image_size must be in 1..{PATCH_SIZE}, got {image_size}.")
        if colour not in COLOURS:
            raise StbenchError(f"Unknown colour setting {colour!r}; choose one of {', '.join(COLOURS)}.")
        self.slides = data.slides
        self.image_size = image_size
        self.transform = transform
        self.index = data.spot_index()
        self.colour = [slide_colour_stats(s, image_size) for s in data.slides] if colour == "slide" else None
        self.images = [self._standardise(k, resized_patches(s, image_size)) for k, s in enumerate(data.slides)] \
            if preload else None
        self.stacked = None if self.images is None else (
            self.images[0] if len(self.images) == 1 else np.concatenate(self.images)
        )
        self.expression = data.expression() if with_expression else None

    def _standardise(self, slide: int, patches: np.ndarray) -> np.ndarray:
        """``patches`` of slide number ``slide`` with its colour standardised (unchanged when ``raw``)."""
        if self.colour is None:
            return patches
        return standardise_colour(patches, *self.colour[slide])

    def __len__(self) -> int:
        return len(self.index)

    def image(self, i: int) -> torch.Tensor:
        """Row ``i``'s patch as uint8 (3, size, size), before the transform."""
        slide, row = (int(v) for v in self.index[i])
        if self.images is not None:
            patch = np.array(self.images[slide][row])
        else:
            patch = self._standardise(slide, resize_patch(self.slides[slide].patches(np.array([row]))[0], self.image_size))
        return torch.from_numpy(patch).permute(2, 0, 1)

    def __getitem__(self, i: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        image = self.image(i) if self.transform is None else self.transform(self.image(i))
        if self.expression is None:
            return image
        return image, torch.from_numpy(self.expression[i])


class PreloadedBatches(Dataset):
    """A preloaded :class:`SpotImageDataset` read a batch at a time: ``batches[rows]`` (a list
    of rows) is the batch the per-sample loader would collate from those rows, value for value:
    images (B, 3, S, S) (channels-last strides) and, with expression, float32 (B, G), by one
    indexing of the stacked patches instead of one ``__getitem__`` per sample
    (:func:`~stbench.torchkit.training.make_loader` with ``whole_batches``)."""

    def __init__(self, dataset: SpotImageDataset) -> None:
        if dataset.stacked is None:
            raise StbenchError("PreloadedBatches needs a dataset built with preload=True.")
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, rows: list[int]) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        index = np.asarray(rows, dtype=np.int64)
        ds = self.dataset
        images = torch.from_numpy(ds.stacked[index]).permute(0, 3, 1, 2)
        if ds.transform is not None:
            images = ds.transform(images)
        if ds.expression is None:
            return images
        return images, torch.from_numpy(ds.expression[index])


def _loader(dataset: SpotImageDataset, *, batch_size: int, device: torch.device, shuffle: bool, drop_last: bool) -> DataLoader:
    """The loader of ``dataset``: whole batches at a time when it is preloaded (the same batches)."""
    if dataset.stacked is not None:
        return make_loader(PreloadedBatches(dataset), batch_size=batch_size, device=device, shuffle=shuffle,
                           drop_last=drop_last, whole_batches=True)
    return make_loader(dataset, batch_size=batch_size, device=device, shuffle=shuffle, drop_last=drop_last)


def train_loader(
    data: SpotData, *, image_size: int, augment: str, preload: bool, batch_size: int, device: torch.device,
    colour: str = "raw",
) -> AugmentedBatches:
    """Shuffled ``(image (B, 3, S, S), expression (B, G))`` batches on ``device``, the images
    augmented there with the ``augment`` set (:class:`~stbench.torchkit.augment.BatchAugment`)
    and normalised. The last incomplete batch is dropped when there is more than one batch
    (a batch of one would upset BatchNorm and contrastive losses)."""
    dataset = SpotImageDataset(
        data, image_size=image_size, transform=None, with_expression=True, preload=preload, colour=colour
    )
    loader = _loader(dataset, batch_size=batch_size, device=device, shuffle=True, drop_last=len(dataset) > batch_size)
    return AugmentedBatches(loader, dataset, BatchAugment(augment), device)


class AugmentedBatches:
    """A loader of uint8 ``(images, expression)`` batches, moved to ``device`` (images
    channels-last) and augmented there; has the loader's length and ``dataset``."""

    def __init__(self, loader: DataLoader, dataset: SpotImageDataset, augment: BatchAugment, device: torch.device) -> None:
        self.loader, self.dataset, self.augment, self.device = loader, dataset, augment, device

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for images, expression in self.loader:
            images, expression = to_device((images, expression), self.device)
            yield self.augment(images).contiguous(memory_format=torch.channels_last), expression


def predict_dataset(data: SpotData, *, image_size: int, preload: bool, colour: str = "raw") -> SpotImageDataset:
    """Normalised images (3, S, S) only, in ``data``'s row order; never reads expression."""
    return SpotImageDataset(
        data, image_size=image_size, transform=eval_transform(), with_expression=False, preload=preload,
        colour=colour,
    )


def predict_loader(
    data: SpotData, *, image_size: int, preload: bool, batch_size: int, device: torch.device, colour: str = "raw"
) -> DataLoader:
    """Batches of :func:`predict_dataset` (B, 3, S, S), in order."""
    dataset = predict_dataset(data, image_size=image_size, preload=preload, colour=colour)
    return _loader(dataset, batch_size=batch_size, device=device, shuffle=False, drop_last=False)


C = TypeVar("C")


def start_image_fit(predictor: Predictor, config_cls: type[C], train: SpotData) -> tuple[C, torch.device, DataLoader]:
    """What every image model's ``fit`` begins with: the resolved config as a ``config_cls``
    dataclass (which has ``image_size``, ``augment``, ``preload``, ``batch_size`` and ``colour``),
    the torch device, torch seeded from the predictor's seed, and the shuffled, augmented
    training loader (:func:`train_loader`)."""
    cfg = config_from(config_cls, predictor.config)
    device = resolve_device(predictor.device)
    seed_everything(predictor.seed)
    loader = train_loader(
        train,
        image_size=cfg.image_size,
        augment=cfg.augment,
        preload=cfg.preload,
        batch_size=cfg.batch_size,
        device=device,
        colour=cfg.colour,
    )
    return cfg, device, loader
