"""Patch datasets and loaders shared by the image-based predictors.

A :class:`SpotImageDataset` turns a :class:`~stbench.data.spots.SpotData` into samples
``(image, expression)`` (training) or ``image`` (prediction), where ``image`` is a uint8 patch
(3, size, size) or, with a transform, a float32 ImageNet-normalised one, and ``expression``
float32 (n_genes,) in log1p space. Training batches are augmented on the device, whole
batches at a time (:mod:`stbench.torchkit.augment`: the GenST paper's Appendix A).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from stbench.data.images import resized_patches
from stbench.data.spots import PATCH_SIZE, SpotData
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
    """

    def __init__(
        self,
        data: SpotData,
        *,
        image_size: int,
        transform: Transform | None,
        with_expression: bool,
        preload: bool,
    ) -> None:
        if not 0 < image_size <= PATCH_SIZE:
            raise StbenchError(f"image_size must be in 1..{PATCH_SIZE}, got {image_size}.")
        self.slides = data.slides
        self.image_size = image_size
        self.transform = transform
        self.index = data.spot_index()
        self.images = [resized_patches(s, image_size) for s in data.slides] if preload else None
        self.expression = data.expression() if with_expression else None

    def __len__(self) -> int:
        return len(self.index)

    def image(self, i: int) -> torch.Tensor:
        """Row ``i``'s patch as uint8 (3, size, size), before the transform."""
        slide, row = (int(v) for v in self.index[i])
        if self.images is not None:
            patch = np.array(self.images[slide][row])
        else:
            patch = resize_patch(self.slides[slide].patches(np.array([row]))[0], self.image_size)
        return torch.from_numpy(patch).permute(2, 0, 1)

    def __getitem__(self, i: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        image = self.image(i) if self.transform is None else self.transform(self.image(i))
        if self.expression is None:
            return image
        return image, torch.from_numpy(self.expression[i])


def train_loader(
    data: SpotData, *, image_size: int, augment: str, preload: bool, batch_size: int, device: torch.device
) -> AugmentedBatches:
    """Shuffled ``(image (B, 3, S, S), expression (B, G))`` batches on ``device``, the images
    augmented there with the ``augment`` set (:class:`~stbench.torchkit.augment.BatchAugment`)
    and normalised. The last incomplete batch is dropped when there is more than one batch
    (a batch of one would upset BatchNorm and contrastive losses)."""
    dataset = SpotImageDataset(data, image_size=image_size, transform=None, with_expression=True, preload=preload)
    drop_last = len(dataset) > batch_size
    loader = make_loader(dataset, batch_size=batch_size, device=device, shuffle=True, drop_last=drop_last)
    return AugmentedBatches(loader, BatchAugment(augment), device)


class AugmentedBatches:
    """A loader of uint8 ``(images, expression)`` batches, moved to ``device`` (images
    channels-last) and augmented there; has the loader's length and ``dataset``."""

    def __init__(self, loader: DataLoader, augment: BatchAugment, device: torch.device) -> None:
        self.loader, self.augment, self.device = loader, augment, device

    @property
    def dataset(self) -> SpotImageDataset:
        return self.loader.dataset

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for images, expression in self.loader:
            images, expression = to_device((images, expression), self.device)
            yield self.augment(images).contiguous(memory_format=torch.channels_last), expression


def predict_dataset(data: SpotData, *, image_size: int, preload: bool) -> SpotImageDataset:
    """Normalised images (3, S, S) only, in ``data``'s row order; never reads expression."""
    return SpotImageDataset(
        data, image_size=image_size, transform=eval_transform(), with_expression=False, preload=preload
    )


def predict_loader(
    data: SpotData, *, image_size: int, preload: bool, batch_size: int, device: torch.device
) -> DataLoader:
    """Batches of :func:`predict_dataset` (B, 3, S, S), in order."""
    dataset = predict_dataset(data, image_size=image_size, preload=preload)
    return make_loader(dataset, batch_size=batch_size, device=device)


C = TypeVar("C")


def start_image_fit(predictor: Predictor, config_cls: type[C], train: SpotData) -> tuple[C, torch.device, DataLoader]:
    """What every image model's ``fit`` begins with: the resolved config as a ``config_cls``
    dataclass (which has ``image_size``, ``augment``, ``preload`` and ``batch_size``), the torch
    device, torch seeded from the predictor's seed, and the shuffled, augmented training
    loader (:func:`train_loader`)."""
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
    )
    return cfg, device, loader
