"""Training augmentations applied to whole batches, on the device the model trains on.

The training loader hands over uint8 patches (B, 3, S, S); :class:`BatchAugment` draws every
random choice per image from torch's RNG on the images' device, applies an augmentation set
and the ImageNet normalisation, and returns float32 (B, 3, S, S). On a GPU the loader's workers
then only read and collate uint8 patches and the augmentations cost next to nothing; on the CPU
one vectorised pass over the batch replaces a chain of per-image torchvision calls.

``paper`` is the GenST paper's Appendix A, in torchvision.transforms.v2 terms:
RandomVerticalFlip(0.5), RandomHorizontalFlip(0.5), ColorJitter(brightness=0.02, contrast=0.05,
saturation=0.1, hue=0.1), RandomAdjustSharpness(0.2, p=0.2), RandomAutocontrast(p=0.5), a random
multiple of 90 degrees. Each operation equals torchvision's functional one on float images
(tested per operation). Two differences from composing torchvision's transforms on uint8
patches: values stay float in [0, 1] between steps (torchvision rounds a uint8 image to uint8
after every step), and the colour jitter runs its four adjustments in one fixed order
(brightness, contrast, saturation, hue) where torchvision draws an order per call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from stbench.errors import StbenchError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

AUGMENTATIONS = ("paper", "dihedral", "none")
"""Training augmentation sets: ``paper`` = Appendix A of the GenST paper (flips, colour jitter,
sharpness, autocontrast, 90-degree rotations); ``dihedral`` = flips and 90-degree rotations only
(cheap, for CPU profiles); ``none``."""

PAPER_JITTER = {"brightness": 0.02, "contrast": 0.05, "saturation": 0.1, "hue": 0.1}
"""ColorJitter strengths of Appendix A: factors uniform in [1 - x, 1 + x] (hue: shift in [-x, x] turns)."""
SHARPNESS_FACTOR, SHARPNESS_P, AUTOCONTRAST_P, FLIP_P = 0.2, 0.2, 0.5, 0.5

_GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # ITU-R 601-2 luma, as torchvision's rgb_to_grayscale


class BatchAugment:
    """``uint8 (B, 3, S, S) -> float32 (B, 3, S, S)``: the ``augment`` set, then ImageNet
    normalisation. Images are square (the patches are); random draws come from torch's
    default generator of the images' device, so :func:`torch.manual_seed` makes them
    reproducible."""

    def __init__(self, augment: str) -> None:
        if augment not in AUGMENTATIONS:
            raise StbenchError(f"Unknown augmentation set {augment!r}; choose one of {', '.join(AUGMENTATIONS)}.")
        self.augment = augment

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float().div_(255.0)
        n, device = x.shape[0], x.device
        if self.augment != "none":
            x = _where(torch.rand(n, device=device) < FLIP_P, x.flip(-2), x)
            x = _where(torch.rand(n, device=device) < FLIP_P, x.flip(-1), x)
        if self.augment == "paper":
            x = _paper_colour(x)
        if self.augment != "none":
            x = rot90_each(x, torch.randint(4, (n,), device=device))
        return normalise(x)


def _paper_colour(x: torch.Tensor) -> torch.Tensor:
    """Appendix A's colour jitter, sharpness and autocontrast on float images in [0, 1]."""
    n, device = x.shape[0], x.device

    def factors(strength: float, centre: float = 1.0) -> torch.Tensor:
        return centre + strength * (2 * torch.rand(n, device=device) - 1)

    x = adjust_brightness(x, factors(PAPER_JITTER["brightness"]))
    x = adjust_contrast(x, factors(PAPER_JITTER["contrast"]))
    x = adjust_saturation(x, factors(PAPER_JITTER["saturation"]))
    x = adjust_hue(x, factors(PAPER_JITTER["hue"], centre=0.0))
    sharpen = torch.rand(n, device=device) < SHARPNESS_P
    x = _where(sharpen, adjust_sharpness(x, torch.full((n,), SHARPNESS_FACTOR, device=device)), x)
    return _where(torch.rand(n, device=device) < AUTOCONTRAST_P, autocontrast(x), x)


def _imagenet_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ImageNet per-channel mean and std, shaped (3, 1, 1) on ``x``'s device and dtype."""
    return x.new_tensor(IMAGENET_MEAN).view(3, 1, 1), x.new_tensor(IMAGENET_STD).view(3, 1, 1)


def normalise(x: torch.Tensor) -> torch.Tensor:
    """float [0, 1] (..., 3, H, W) -> per-channel ImageNet mean/std normalisation."""
    mean, std = _imagenet_stats(x)
    return (x - mean) / std


def denormalise(images: torch.Tensor) -> torch.Tensor:
    """Invert :func:`normalise`: float (..., 3, H, W) -> float in [0, 1] (clamped)."""
    mean, std = _imagenet_stats(images)
    return (images * std + mean).clamp(0, 1)


def _where(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per image: ``a`` where ``mask`` (B,) else ``b``."""
    return torch.where(mask.view(-1, 1, 1, 1), a, b)


def _per_image(values: torch.Tensor) -> torch.Tensor:
    return values.view(-1, 1, 1, 1)


def _blend(a: torch.Tensor, b: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """``ratio * a + (1 - ratio) * b`` clamped to [0, 1]; ``ratio`` (B,)."""
    r = _per_image(ratio)
    return (r * a + (1 - r) * b).clamp_(0, 1)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """Luma (B, 1, H, W) of RGB images (B, 3, H, W)."""
    return (x * x.new_tensor(_GRAY_WEIGHTS).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Scale every value by ``factor`` (B,) (torchvision's adjust_brightness, per image)."""
    return (x * _per_image(factor)).clamp_(0, 1)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend each image with its mean luma by ``factor`` (B,) (torchvision's adjust_contrast)."""
    return _blend(x, grayscale(x).mean(dim=(1, 2, 3), keepdim=True), factor)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend each pixel with its luma by ``factor`` (B,) (torchvision's adjust_saturation)."""
    return _blend(x, grayscale(x), factor)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the hue by ``shift`` (B,) turns, in [-0.5, 0.5] (torchvision's adjust_hue)."""
    h, s, v = _rgb_to_hsv(x)
    return _hsv_to_rgb(torch.remainder(h + shift.view(-1, 1, 1), 1.0), s, v)


def _rgb_to_hsv(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hue in [0, 1) turns, saturation and value, each (B, H, W). A grey pixel has hue 0 and
    saturation 0; ties between channels resolve to red, then green (as torchvision)."""
    r, g, b = x.unbind(dim=1)
    value, low = x.amax(dim=1), x.amin(dim=1)
    chroma = value - low
    grey = chroma == 0
    safe_chroma = torch.where(grey, torch.ones_like(chroma), chroma)
    saturation = chroma / torch.where(value == 0, torch.ones_like(value), value)
    hue = torch.where(
        value == r,
        torch.remainder((g - b) / safe_chroma, 6.0),
        torch.where(value == g, (b - r) / safe_chroma + 2.0, (r - g) / safe_chroma + 4.0),
    )
    hue = torch.where(grey, torch.zeros_like(hue), hue) / 6.0
    return hue, saturation, value


def _hsv_to_rgb(hue: torch.Tensor, saturation: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB from hue (turns), saturation and value (B, H, W): channel n (5 = red,
    3 = green, 1 = blue) is ``v - v s clamp(min(k, 4 - k), 0, 1)`` with ``k = (n + 6 h) mod 6``."""
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = torch.remainder(n + 6.0 * hue, 6.0)
        channels.append(value - value * saturation * torch.minimum(k, 4.0 - k).clamp(0, 1))
    return torch.stack(channels, dim=1)


def adjust_sharpness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend each image with its smoothed version (3 x 3 kernel, centre 5, others 1, over 13;
    border pixels kept) by ``factor`` (B,) (torchvision's adjust_sharpness). Images of side
    at most 2 are returned unchanged."""
    n, c, height, width = x.shape
    if height <= 2 or width <= 2:
        return x
    kernel = x.new_ones(3, 3)
    kernel[1, 1] = 5.0
    kernel = (kernel / kernel.sum()).expand(c, 1, 3, 3)
    smooth = x.clone()
    smooth[..., 1:-1, 1:-1] = F.conv2d(x, kernel, groups=c)
    return _blend(x, smooth, factor)


def autocontrast(x: torch.Tensor) -> torch.Tensor:
    """Stretch each channel of each image to [0, 1]; a constant channel is left as it is
    (torchvision's autocontrast)."""
    low = x.amin(dim=(2, 3), keepdim=True)
    high = x.amax(dim=(2, 3), keepdim=True)
    flat = high == low
    scale = torch.where(flat, torch.ones_like(high), high - low)
    return ((x - torch.where(flat, torch.zeros_like(low), low)) / scale).clamp_(0, 1)


def rot90_each(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Rotate image i of square images (B, C, S, S) by ``k[i]`` quarter turns (k in 0..3)."""
    out = x.clone()
    for turns in (1, 2, 3):
        chosen = k == turns
        if chosen.any():
            out[chosen] = torch.rot90(x[chosen], turns, dims=(-2, -1))
    return out
