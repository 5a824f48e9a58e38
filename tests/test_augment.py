"""stbench.torchkit.augment: batched training augmentations, each operation checked against
torchvision's functional one applied image by image with the same factor."""

from __future__ import annotations

import pytest
import torch
import torchvision.transforms.v2.functional as TF

from stbench.errors import StbenchError
from stbench.torchkit import augment as A
from stbench.torchkit.data import eval_transform


def _images(n: int = 6, size: int = 9, seed: int = 0) -> torch.Tensor:
    """float images in [0, 1] with grey pixels, saturated pixels and a constant channel."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=g)
    x[0, :, 0, :] = 0.5  # grey pixels (hue undefined)
    x[1, 0] = 0.25  # a constant channel (autocontrast leaves it)
    x[2, :, 1, 1] = torch.tensor([1.0, 1.0, 0.0])  # a red/green tie
    return x


FACTORS = torch.tensor([0.9, 1.0, 1.05, 0.5, 1.3, 0.0])


@pytest.mark.parametrize(
    ("ours", "theirs", "factors"),
    [
        (A.adjust_brightness, TF.adjust_brightness, FACTORS),
        (A.adjust_contrast, TF.adjust_contrast, FACTORS),
        (A.adjust_saturation, TF.adjust_saturation, FACTORS),
        (A.adjust_sharpness, TF.adjust_sharpness, FACTORS),
        (A.adjust_hue, TF.adjust_hue, torch.tensor([-0.5, -0.1, 0.0, 0.03, 0.1, 0.5])),
    ],
    ids=["brightness", "contrast", "saturation", "sharpness", "hue"],
)
def test_adjustments_equal_torchvision_per_image(ours, theirs, factors) -> None:
    x = _images()
    expected = torch.stack([theirs(x[i], float(f)) for i, f in enumerate(factors)])
    torch.testing.assert_close(ours(x, factors), expected, rtol=0, atol=2e-6)


def test_autocontrast_equals_torchvision_per_image() -> None:
    x = _images()
    expected = torch.stack([TF.autocontrast(img) for img in x])
    torch.testing.assert_close(A.autocontrast(x), expected, rtol=0, atol=1e-6)


def test_rot90_each_turns_every_image_by_its_own_count() -> None:
    x = _images(n=4)
    k = torch.tensor([0, 1, 2, 3])
    out = A.rot90_each(x, k)
    for i in range(4):
        torch.testing.assert_close(out[i], torch.rot90(x[i], i, dims=(-2, -1)), rtol=0, atol=0)


def test_none_is_the_evaluation_transform() -> None:
    images = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    expected = torch.stack([eval_transform()(img) for img in images])
    torch.testing.assert_close(A.BatchAugment("none")(images), expected, rtol=0, atol=1e-6)


def test_dihedral_gives_each_image_one_of_its_eight_symmetries_drawn_independently() -> None:
    images = torch.randint(0, 256, (64, 3, 6, 6), dtype=torch.uint8)
    torch.manual_seed(0)
    out = A.BatchAugment("dihedral")(images)
    plain = A.BatchAugment("none")(images)
    chosen = []
    for i in range(len(images)):
        variants = [torch.rot90(v, k, dims=(-2, -1)) for v in (plain[i], plain[i].flip(-1)) for k in range(4)]
        matches = [j for j, v in enumerate(variants) if torch.equal(v, out[i])]
        assert matches, f"image {i} is not a symmetry of its input"
        chosen.append(matches[0])
    assert len(set(chosen)) == 8  # 64 independent draws reach all eight symmetries


def test_paper_set_is_reproducible_per_seed_and_drawn_per_image() -> None:
    images = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8).expand(16, 3, 8, 8).clone()
    images[:] = images[0]  # one image sixteen times: any difference comes from the draws
    torch.manual_seed(3)
    first = A.BatchAugment("paper")(images)
    torch.manual_seed(3)
    again = A.BatchAugment("paper")(images)
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert first.dtype == torch.float32 and first.shape == images.shape
    distinct = {tuple(img.flatten().round(decimals=4).tolist()) for img in first}
    assert len(distinct) > 8


def test_unknown_augmentation_set_is_one_sentence() -> None:
    with pytest.raises(StbenchError, match="augmentation set 'heavy'"):
        A.BatchAugment("heavy")
