"""The two renderings of the built-in cohort: their intensity models and crop rules.

Rendering ``"a"`` is the original one. Rendering ``"b"`` draws the same
readings (same contours, slices, anatomy, labels and true centres) with its own
intensity model for texture, calcification and subtlety, its own CT noise
(level and correlation length), a scanner blur (Gaussian point-spread function
on the whole slice) and its own crop rule, so that a recipe tuned on one
rendering can be checked on another. Rendering ``"b"``'s own random draws come
from streams keyed by ``_VARIANT_B``, so rendering ``"a"`` is unchanged.
"""

from types import SimpleNamespace

import cv2
import numpy as np

VARIANTS = ("a", "b")
# SeedSequence key of rendering b's own random streams (a uses 1-4).
_VARIANT_B = 5

A = SimpleNamespace(
    name="a",
    # texture 1 = ground glass ... 5 = solid: fraction of the nodule that is solid.
    solid_fraction={1: 0.0, 2: 0.25, 3: 0.5, 4: 0.8, 5: 1.0},
    # Width of the ramp from ground glass to the solid core (fraction of the
    # nodule's largest inner distance).
    solid_ramp=0.2,
    # Texture amplitude (HU per unit of the texture field): ground glass, solid.
    texture_amp=(60.0, 15.0),
    # calcification 1-5 (popcorn, laminated, solid, non-central, central; index
    # 0 unused): HU of the calcified part, added to the slice's
    # ``levels["calc"]``; blur (px) of its shape (0: a hard mask).
    calc_hu=(600.0, 900.0, 600.0, 700.0, 800.0, 800.0),
    calc_blur=0.0,
    # subtlety 1 = extremely subtle ... 5 = obvious: contrast against the lung
    # and blur (px) of the nodule's edge.
    contrast={1: 0.55, 2: 0.7, 3: 0.82, 4: 0.92, 5: 1.0},
    edge_blur={1: 1.6, 2: 1.3, 3: 1.0, 4: 0.8, 5: 0.6},
    # Scanner blur: sigma (px) of the Gaussian PSF on the whole slice (0: none).
    psf_sigma=0.0,
)

B = SimpleNamespace(
    name="b",
    solid_fraction={1: 0.0, 2: 0.35, 3: 0.6, 4: 0.85, 5: 1.0},
    solid_ramp=0.4,
    texture_amp=(90.0, 25.0),
    calc_hu=(0.0, 450.0, 1100.0, 750.0, 550.0, 950.0),
    calc_blur=0.8,
    contrast={1: 0.4, 2: 0.58, 3: 0.74, 4: 0.88, 5: 1.0},
    edge_blur={1: 2.2, 2: 1.7, 3: 1.3, 4: 1.0, 5: 0.7},
    psf_sigma=0.8,
    # Noise: gain on the patient's noise level and correlation (Gaussian sigma,
    # px, of the filter on white noise; a uses 0.7).
    noise_gain=1.3,
    noise_ksize=9,
    noise_sigma=1.4,
    # Cells across the slice of the nodule texture field (a: 128).
    texture_cells=64,
    # Crop rule: side = nodule extent x U(lo, hi), at least a floor drawn in
    # crop_floor, at most crop_side[1] (px).
    crop_factor=(2.0, 3.6),
    crop_floor=(36, 72),
    crop_side=(36, 176),
    # Largest shift of the box's centre from the nodule's, as a share of the
    # side (the box still holds the whole nodule).
    crop_shift=0.25,
)

LOOKS = {"a": A, "b": B}


def check_variant(variant):
    """The appearance of rendering ``variant``; ValueError if unknown."""
    if not isinstance(variant, str) or variant not in LOOKS:
        raise ValueError(
            f"variant must be one of {', '.join(map(repr, VARIANTS))} (the "
            f"cohort's rendering), got {variant!r}."
        )
    return LOOKS[variant]


def _gain(ksize, sigma):
    """Variance gain of a normalised Gaussian filter on white noise."""
    return 1.0 / float(np.sum(cv2.getGaussianKernel(ksize, sigma) ** 2))


def slice_extras_b(noise_hu, size, smooth_field, rng):
    """Rendering b's noise, nodule texture and HU levels for one slice.

    ``noise_hu`` is the patient's noise level, ``smooth_field`` the renderer's
    field generator, ``rng`` rendering b's stream for the slice.
    """
    k, s = B.noise_ksize, B.noise_sigma
    noise = rng.standard_normal((size, size), dtype=np.float32)
    noise = cv2.GaussianBlur(noise, (k, k), s)
    noise *= np.float32(B.noise_gain * noise_hu * np.sqrt(_gain(k, s)))
    texture = smooth_field(rng, (size, size), B.texture_cells)
    levels = {
        "ggo": rng.normal(-580, 45),
        "solid": rng.uniform(20, 90),
        "calc": rng.uniform(-100, 100),
    }
    return noise, texture, levels


def crop_box_a(centre_rc, contour, rng, size):
    """Square crop box around the nodule: side 45-125 px (the thesis's range)."""
    _, _, w, h = cv2.boundingRect(contour.reshape(-1, 1, 2))
    side = int(np.clip(round(1.3 * max(w, h) + 32 + rng.integers(-4, 5)), 45, 125))
    top = int(np.clip(round(centre_rc[0]) - side // 2, 0, size - side))
    left = int(np.clip(round(centre_rc[1]) - side // 2, 0, size - side))
    return top, left, side, side


def crop_box_b(centre_rc, contour, rng, size):
    """Square box: the nodule's extent times a random factor, shifted at random.

    The side is ``max(w, h) x U(2.0, 3.6)``, at least a floor drawn from
    36-72 px and at most 176 px, and never less than the nodule's extent plus
    2 px; the centre moves by up to a quarter of the side in each direction,
    and the box is then moved to hold the whole nodule and to stay on the
    slice.
    """
    x0, y0, w, h = cv2.boundingRect(np.asarray(contour, np.int32).reshape(-1, 1, 2))
    extent = max(w, h)
    factor = rng.uniform(*B.crop_factor)
    floor = rng.integers(B.crop_floor[0], B.crop_floor[1] + 1)
    side = int(np.clip(max(round(extent * factor), floor), *B.crop_side))
    side = int(min(max(side, extent + 2), size))
    shift = rng.uniform(-B.crop_shift, B.crop_shift, size=2) * side
    box = []
    for centre, start, length, d in ((centre_rc[0], y0, h, shift[0]),
                                     (centre_rc[1], x0, w, shift[1])):
        lo = max(start + length - side, 0)  # still holds the nodule's far edge
        hi = min(start, size - side)  # and its near edge, on the slice
        box.append(int(np.clip(round(centre + d - side / 2), lo, hi)))
    return box[0], box[1], side, side
