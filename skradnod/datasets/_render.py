"""Rendering of synthetic CT slices around real LIDC-IDRI nodule contours.

A scan's anatomy (body, fat, muscle, lungs with vessels and bronchi, mediastinum,
heart or great vessels, spine, ribs, sternum, table) is drawn once, in
millimetres converted to the scan's real pixel spacing and seeded by the patient,
so that every reading of one patient shares a body. Each reading's slice is that
anatomy, scaled very slightly with the slice's distance in z from the scan's
other readings, plus the reading's nodule and CT noise seeded by the slice: two
radiologists who contoured one nodule on the same slice get the same background,
as in real data.

Everything is drawn with OpenCV primitives (``fillPoly``, ``ellipse``,
``GaussianBlur``, ``distanceTransform``) on float32 images; there is no Python
loop over pixels.
"""

from types import SimpleNamespace

import cv2
import numpy as np

from ._appearance import A

SIZE = 512
HU_MIN, HU_MAX = -1024, 3071

# SeedSequence keys separating the random streams of one random_state.
_PATIENT, _SLICE, _READING, _SUBSET = 1, 2, 3, 4

# Ratings (LIDC-IDRI scale) -> appearance: the tables of each rendering are in
# _appearance (A, B).
# internalStructure 2 = fluid, 3 = fat, 4 = air (1 = soft tissue, 5 is an
# undocumented value in one reading, drawn as soft tissue).
_INTERNAL_HU = {2: 8.0, 3: -90.0, 4: -950.0}

_NOISE_KSIZE, _NOISE_SIGMA = 5, 0.7
_NOISE_GAIN = 1.0 / float(
    np.sum(cv2.getGaussianKernel(_NOISE_KSIZE, _NOISE_SIGMA) ** 2)
)
_N_THETA = 256
_THETA = np.linspace(0.0, 2 * np.pi, _N_THETA, endpoint=False)


def rng_for(*keys):
    """A numpy Generator seeded by non-negative integer ``keys``."""
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


def z_key(z):
    """A non-negative integer identifying a slice position (0.01 mm steps)."""
    return int(round(float(z) * 100)) + 10_000_000


def z_scale(dz):
    """Scale of the anatomy at ``dz`` mm from the scan's reference slice."""
    return 1.0 + float(np.clip(0.0005 * dz, -0.02, 0.02))


def warp_points(points, scale):
    """Map slice pixel coordinates to the anatomy's (unscaled) frame."""
    centre = (SIZE - 1) / 2
    return centre + (np.asarray(points, dtype=float) - centre) / scale


def rasterise(contour, shape=(SIZE, SIZE), offset=(0, 0)):
    """Fill a contour of ``(x, y)`` pixel vertices into a uint8 mask.

    The contour's own pixels belong to the mask, as in LIDC-IDRI, where the
    outline is drawn on the nodule's outermost pixels.
    """
    mask = np.zeros(shape, dtype=np.uint8)
    pts = np.asarray(contour, dtype=np.int32) - np.asarray(offset, dtype=np.int32)
    cv2.fillPoly(mask, [pts.reshape(-1, 1, 2)], 1)
    return mask


def _polar(centre, radii):
    """Polygon (int32 (n, 1, 2), x/y) from radii sampled at ``_THETA``."""
    x = centre[0] + radii * np.cos(_THETA)
    y = centre[1] + radii * np.sin(_THETA)
    return np.round(np.stack([x, y], axis=1)).astype(np.int32).reshape(-1, 1, 2)


def _radius_at(radii, theta):
    """Interpolate a periodic radial function at angles ``theta``."""
    return np.interp(np.mod(theta, 2 * np.pi), _THETA, radii, period=2 * np.pi)


def _smooth_field(rng, shape, cells):
    """Smooth standard-normal-like field: upsampled white noise."""
    small = rng.standard_normal((cells, cells)).astype(np.float32)
    return cv2.resize(small, shape[::-1], interpolation=cv2.INTER_CUBIC)


def _ellipse(img, centre, axes, angle, value, thickness=-1, arc=(0, 360)):
    axes = (max(int(round(axes[0])), 1), max(int(round(axes[1])), 1))
    cv2.ellipse(
        img, (int(round(centre[0])), int(round(centre[1]))), axes, float(angle),
        arc[0], arc[1], float(value), int(thickness), cv2.LINE_AA,
    )


def _bone(img, centre, axes, angle, cortex_px, marrow_hu, cortex_hu):
    _ellipse(img, centre, axes, angle, marrow_hu)
    _ellipse(img, centre, axes, angle, cortex_hu, thickness=max(1, cortex_px))


class Thorax:
    """A patient's chest at one scan's pixel spacing.

    Parameters
    ----------
    rng : numpy.random.Generator
        Seeded per patient: every anatomical choice in mm is drawn from it in a
        fixed order, so two scans of one patient share a body.
    spacing : float
        Pixel spacing of the scan (mm).
    contrast : bool
        Whether the scan used intravenous contrast (brighter blood).
    nodule_points : list of ndarray of shape (n, 2)
        ``(x, y)`` pixel points of the scan's nodules in the anatomy's frame. The
        lungs are grown to cover each of them with a margin of lung parenchyma.
    protect : ndarray of shape (512, 512), uint8
        Where bone and other structures drawn after the lungs must not go (the
        nodules and their margin).

    Attributes
    ----------
    image : ndarray of shape (512, 512), float32
        The anatomy in HU, without nodules or noise.
    lung_mask, body_mask : ndarray of shape (512, 512), uint8
        Where the lungs and the body are.
    noise_hu : float
        Standard deviation of the patient's CT noise (HU).

    Notes
    -----
    The construction is split by structure (body, mediastinum, lungs, bone);
    all random choices are drawn first, in one fixed order, so that the anatomy
    of a given seed stays the same whatever the drawing code does.
    """

    def __init__(self, rng, spacing, contrast, nodule_points, protect):
        px = 1.0 / spacing  # pixels per mm
        draws = self._draw_choices(rng, contrast)
        self.noise_hu = draws.noise_hu
        shape = self._shape(draws, px, nodule_points)
        self.body_mask = np.zeros((SIZE, SIZE), np.uint8)
        cv2.fillPoly(self.body_mask, [_polar((shape.bcx, shape.bcy), shape.body_r)], 1)

        img = np.full((SIZE, SIZE), -1000.0, np.float32)
        self._draw_body(img, draws, shape)
        self._draw_mediastinum(img, draws, shape)
        self.lung_mask = self._draw_lungs(img, draws, shape)
        # Bone (drawn after the lungs, kept off the nodules).
        bone = img.copy()
        self._draw_bones(bone, draws, shape)
        keep = protect.astype(bool) | ~self.body_mask.astype(bool)
        np.copyto(bone, img, where=keep)
        # Partial-volume softening of every edge.
        self.image = cv2.GaussianBlur(bone, (0, 0), 0.8)

    @classmethod
    def _draw_choices(cls, rng, contrast):
        """Every random choice of the anatomy (mm, HU), drawn in a fixed order."""
        d = SimpleNamespace()
        d.body_a = rng.uniform(150, 185)  # half width, mm
        d.body_b = rng.uniform(112, 140)  # half depth (anterior-posterior), mm
        d.body_dx, d.body_dy = rng.normal(0, 4), rng.uniform(0, 20)
        d.n_ant, d.n_post = rng.uniform(2.0, 2.6), rng.uniform(2.8, 3.8)
        d.fat_mm = rng.uniform(4, 28)
        d.wall_mm = rng.uniform(14, 22)
        d.lung_dx = rng.uniform(0.40, 0.46, size=2)
        d.lung_dy = rng.uniform(-0.06, 0.04)
        d.lung_ax = rng.uniform(0.32, 0.38, size=2) * np.array([1.0, 0.94])
        d.lung_ay = rng.uniform(0.68, 0.78, size=2)
        d.harmonics = rng.uniform(0, 0.045, size=(2, 3))
        d.phases = rng.uniform(0, 2 * np.pi, size=(2, 3))
        d.medial_cut = rng.uniform(0.12, 0.25, size=2) + np.array([0.0, 0.08])
        d.blood_hu = rng.uniform(140, 280) if contrast else rng.uniform(35, 50)
        d.vessel_hu = d.blood_hu * rng.uniform(0.8, 1.0)
        d.noise_hu = rng.uniform(12, 26)
        d.cardiac_level = rng.random() < 0.55
        d.heart = (rng.uniform(5, 25), rng.uniform(0.05, 0.2), rng.uniform(50, 65),
                   rng.uniform(38, 48), rng.uniform(20, 40))
        d.vert_r, d.vert_y = rng.uniform(15, 19), rng.uniform(0.48, 0.58)
        d.aorta_dx, d.aorta_r = rng.uniform(18, 28), rng.uniform(11, 14)
        d.table_gap = rng.uniform(2, 12)
        d.table_hu = rng.uniform(-200, 150)
        d.vessels = [cls._draw_vessel_params(rng) for _ in range(2)]
        d.bronchi = [cls._draw_bronchus_params(rng) for _ in range(2)]
        d.ribs = [
            (rng.integers(7, 11), rng.uniform(-0.08, 0.08, size=12),
             rng.uniform(4, 8, size=12), rng.uniform(3.0, 4.5, size=12),
             rng.uniform(2, 5, size=12))
            for _ in range(2)
        ]
        d.tex_coarse = _smooth_field(rng, (SIZE, SIZE), 24)
        d.tex_fine = _smooth_field(rng, (SIZE, SIZE), 96)
        return d

    @classmethod
    def _shape(cls, d, px, nodule_points):
        """Geometry in pixels: body centre and half axes, lungs, body outline."""
        c = (SIZE - 1) / 2
        bcx, bcy = c + d.body_dx * px, c + d.body_dy * px
        a, b = d.body_a * px, d.body_b * px
        lung_c = [
            np.array([bcx - d.lung_dx[0] * a, bcy + d.lung_dy * b]),
            np.array([bcx + d.lung_dx[1] * a, bcy + d.lung_dy * b]),
        ]
        lung_r = [cls._lung_radii(d, i, a, b) for i in range(2)]
        # Grow each lung to cover the nodules (real contours lie inside real
        # lungs; the synthetic lungs must hold them with parenchyma around).
        margin = max(5.0 * px, 6.0)
        if nodule_points:
            pts = np.concatenate(nodule_points, axis=0)
            which = cls._nearest_lung(pts, lung_c, lung_r)
            for i in range(2):
                sel = pts[which == i]
                if len(sel):
                    lung_r[i] = cls._cover(lung_c[i], lung_r[i], sel, margin)
        # Body: a superellipse flatter at the back; grow it to hold the lungs
        # with the chest wall around them.
        lung_poly = [_polar(lung_c[i], lung_r[i]) for i in range(2)]
        allp = np.concatenate([p.reshape(-1, 2) for p in lung_poly]).astype(float)
        rel = allp - (bcx, bcy)
        rho, ang = np.hypot(rel[:, 0], rel[:, 1]), np.arctan2(rel[:, 1], rel[:, 0])

        def body_radius(theta, a_, b_, inset=0.0):
            n = np.where(np.sin(theta) < 0, d.n_ant, d.n_post)
            r = (np.abs(np.cos(theta) / a_) ** n + np.abs(np.sin(theta) / b_) ** n)
            return r ** (-1.0 / n) - inset

        grow = np.max((rho + d.wall_mm * px) / body_radius(ang, a, b))
        if grow > 1:
            a, b = a * grow, b * grow
        return SimpleNamespace(
            px=px, bcx=bcx, bcy=bcy, a=a, b=b, body_r=body_radius(_THETA, a, b),
            lung_c=lung_c, lung_r=lung_r, lung_poly=lung_poly,
            spine_y=bcy + d.vert_y * b,
        )

    @staticmethod
    def _lung_radii(d, i, a, b):
        """Lung ``i``'s radial function: an ellipse with harmonics, cut medially."""
        ax, ay = d.lung_ax[i] * a, d.lung_ay[i] * b
        r = 1.0 / np.sqrt((np.cos(_THETA) / ax) ** 2 + (np.sin(_THETA) / ay) ** 2)
        for k in range(3):
            r *= 1.0 + d.harmonics[i, k] * np.cos((k + 2) * _THETA + d.phases[i, k])
        # Flatten the medial side, where the mediastinum (and, for the
        # patient's left lung, the heart) presses on the lung.
        medial = 0.0 if i == 0 else np.pi
        r *= 1.0 - d.medial_cut[i] * np.maximum(np.cos(_THETA - medial), 0) ** 3
        return r

    @staticmethod
    def _draw_body(img, d, g):
        """The table, subcutaneous fat, and muscle and soft tissue inside it."""
        px, centre, body_r = g.px, (g.bcx, g.bcy), g.body_r
        # Table under the patient (two thin carbon-fibre shells).
        table_y = g.bcy + body_r[_N_THETA // 4] + d.table_gap * px
        for offset, thick in ((0.0, 2.5), (35.0, 1.5)):
            y0 = int(round(table_y + offset * px))
            cv2.rectangle(img, (0, y0), (SIZE - 1, y0 + max(1, int(thick * px))),
                          float(d.table_hu), -1)
        cv2.fillPoly(img, [_polar(centre, body_r)], -100.0, cv2.LINE_AA)
        inner = np.maximum(body_r - d.fat_mm * px, body_r * 0.5)
        cv2.fillPoly(img, [_polar(centre, inner)], 42.0, cv2.LINE_AA)
        inner2 = np.maximum(inner - 8.0 * px, inner * 0.5)  # intercostal muscle
        cv2.fillPoly(img, [_polar(centre, inner2)], 35.0, cv2.LINE_AA)

    @staticmethod
    def _draw_mediastinum(img, d, g):
        """Mediastinal fat, then the heart (cardiac level) or great vessels."""
        px, bcx, bcy, b, blood_hu = g.px, g.bcx, g.bcy, g.b, d.blood_hu
        _ellipse(img, (bcx, bcy - 0.15 * b), (45 * px, 0.55 * b), 0, -85)
        if d.cardiac_level:
            hx, hy, hax, hay, hang = d.heart
            centre = (bcx + hx * px, bcy - hy * b)
            _ellipse(img, centre, ((hax + 4) * px, (hay + 4) * px), hang, -95)
            _ellipse(img, centre, (hax * px, hay * px), hang, 48)
            _ellipse(img, centre, ((hax - 9) * px, (hay - 9) * px), hang, blood_hu)
            _ellipse(img, centre, (3 * px, (hay - 9) * px), hang + 80, 48)
        else:
            _ellipse(img, (bcx + 8 * px, bcy - 0.28 * b), (15 * px, 15 * px), 0,
                     blood_hu)
            _ellipse(img, (bcx + 32 * px, bcy - 0.18 * b), (13 * px, 13 * px), 0,
                     blood_hu * 0.95)
            _ellipse(img, (bcx - 22 * px, bcy - 0.26 * b), (9 * px, 9 * px), 0,
                     blood_hu * 1.1)
            trachea = (bcx - 2 * px, bcy - 0.02 * b)
            _ellipse(img, trachea, (10 * px, 9 * px), 0, 30)
            _ellipse(img, trachea, (8 * px, 7 * px), 0, -990)
        aorta = (bcx + d.aorta_dx * px, g.spine_y - 0.8 * d.vert_r * px)
        _ellipse(img, aorta, (d.aorta_r * px, d.aorta_r * px), 0, blood_hu)
        _ellipse(img, (bcx - 6 * px, g.spine_y - (d.vert_r + 9) * px),
                 (6 * px, 5 * px), 0, 38)

    @classmethod
    def _draw_lungs(cls, img, d, g):
        """Parenchyma with a gravity gradient, texture, vessels and bronchi.

        Returns the lung mask.
        """
        lung_mask = np.zeros((SIZE, SIZE), np.uint8)
        for poly in g.lung_poly:  # one at a time: fillPoly XORs overlapping polygons
            cv2.fillPoly(lung_mask, [poly], 1)
        rows = np.arange(SIZE, dtype=np.float32)[:, None]
        gradient = 70.0 * np.clip((rows - (g.bcy - g.b)) / (2 * g.b), 0, 1)
        lung = -885.0 + gradient + 14.0 * d.tex_coarse + 9.0 * d.tex_fine
        # Vessels and bronchi, drawn on a copy of the lung field and kept only
        # inside the lungs.
        tree = lung.astype(np.float32)
        for i in range(2):
            medial = 1.0 if i == 0 else -1.0
            hilum = g.lung_c[i] + (medial * 0.35 * d.lung_ax[i] * g.a, 0.05 * g.b)
            cls._draw_vessels(tree, g.lung_c[i], g.lung_r[i], hilum,
                              d.lung_ax[i] * g.a, d.vessels[i], d.bronchi[i], g.px,
                              d.vessel_hu)
        np.copyto(img, tree, where=lung_mask.astype(bool))
        return lung_mask

    @staticmethod
    def _draw_bones(bone, d, g):
        """Vertebra with its canal and spinous process, sternum and ribs."""
        px, bcx = g.px, g.bcx
        vert = (bcx, g.spine_y)
        _bone(bone, vert, (d.vert_r * px, d.vert_r * 0.92 * px), 0, int(2 * px), 240,
              900)
        canal = (bcx, g.spine_y + (d.vert_r + 8) * px)
        _ellipse(bone, canal, (15 * px, 13 * px), 0, 750, thickness=int(4 * px),
                 arc=(-10, 190))
        _ellipse(bone, canal, (7.5 * px, 7 * px), 0, 30)
        _bone(bone, (bcx, canal[1] + 19 * px), (3.5 * px, 10 * px), 0, int(1.2 * px),
              400, 750)
        for side in (-1, 1):
            _bone(bone, (bcx + side * 22 * px, canal[1] - 2 * px), (12 * px, 4 * px),
                  side * 20, int(1.2 * px), 350, 720)
        sternum_y = g.bcy - g.body_r[3 * _N_THETA // 4] + (d.fat_mm + 9) * px
        _bone(bone, (bcx, sternum_y), (14 * px, 6 * px), 0, int(1.5 * px), 300, 800)
        for i in range(2):
            lateral = np.pi if i == 0 else 0.0
            n_ribs, jitter, long_mm, short_mm, gap_mm = d.ribs[i]
            angles = lateral + np.linspace(-1.55, 1.55, n_ribs) * (
                1 if i == 0 else -1
            ) + jitter[:n_ribs]
            for k, theta in enumerate(angles):
                radial = _radius_at(g.lung_r[i], theta) + (gap_mm[k] + short_mm[k]) * px
                centre = g.lung_c[i] + radial * np.array([np.cos(theta), np.sin(theta)])
                posterior = np.sin(theta) > 0.3
                length = long_mm[k] * (1.6 if posterior else 1.0)
                _bone(bone, centre, (length * px, short_mm[k] * px),
                      np.degrees(theta) + 90, int(1.2 * px), 300, 750)

    @staticmethod
    def _nearest_lung(points, centres, radii):
        """Index (0/1) of the lung each point lies deepest in."""
        norm = []
        for c, r in zip(centres, radii):
            rel = points - c
            dist = np.hypot(rel[:, 0], rel[:, 1])
            norm.append(dist / _radius_at(r, np.arctan2(rel[:, 1], rel[:, 0])))
        return np.where(norm[0] <= norm[1], 0, 1)

    @staticmethod
    def _cover(centre, radii, points, margin):
        """Grow a lung's radial function to hold ``points`` with a margin.

        First a uniform growth of at most 20 %, then smooth local bulges for
        what is still outside (real nodules lie in real lungs, whose shapes
        vary more than the synthetic template).
        """
        rel = points - centre
        dist = np.hypot(rel[:, 0], rel[:, 1]) + margin
        ang = np.arctan2(rel[:, 1], rel[:, 0])
        ratio = float(np.max(dist / _radius_at(radii, ang)))
        radii = radii * float(np.clip(ratio, 1.0, 1.2))
        excess = dist - _radius_at(radii, ang)
        out = excess > 0
        if out.any():
            dist, ang = dist[out], ang[out]
            width = np.clip(3.0 * margin / dist + 0.35, 0.45, 1.2)
            dtheta = np.angle(np.exp(1j * (_THETA[:, None] - ang[None])))
            w = np.cos(np.clip(dtheta / width[None], -1, 1) * np.pi / 2) ** 2
            gain = w * np.maximum(dist[None] - radii[:, None], 0)
            radii = radii + gain.max(axis=1)
        return radii

    @staticmethod
    def _draw_vessel_params(rng):
        n = int(rng.integers(35, 70))
        return (rng.uniform(0, 2 * np.pi, n), rng.uniform(0.1, 0.97, n) ** 0.7,
                rng.uniform(0.5, 1.2, n), np.where(rng.random(n) < 0.4,
                                                    rng.uniform(1.5, 3.5, n), 1.0),
                rng.normal(0, 0.3, n), rng.uniform(0.75, 1.0, n))

    @staticmethod
    def _draw_bronchus_params(rng):
        n = int(rng.integers(3, 8))
        return (rng.uniform(0, 2 * np.pi, n), rng.uniform(0.05, 0.5, n),
                rng.uniform(0.7, 1.2, n), rng.uniform(0, 2 * np.pi, n))

    @staticmethod
    def _draw_vessels(img, centre, radii, hilum, scale, vessels, bronchi, px, hu):
        theta, u, size, elong, tilt, dim = vessels
        reach = _radius_at(radii, theta) * u
        pos = centre + reach[:, None] * np.stack([np.cos(theta), np.sin(theta)], 1)
        dh = np.hypot(*(pos - hilum).T) / scale
        # Near the hilum vessels reach nodule size (up to ~12 mm across).
        r_mm = (0.6 + 4.5 * np.exp(-3.0 * dh)) * size
        out = np.arctan2(pos[:, 1] - hilum[1], pos[:, 0] - hilum[0])
        for k in range(len(theta)):
            r = r_mm[k] * px
            _ellipse(img, pos[k], (r * elong[k], r), np.degrees(out[k] + tilt[k]),
                     hu * dim[k])
        theta, u, size, side = bronchi
        reach = _radius_at(radii, theta) * u
        pos = centre + reach[:, None] * np.stack([np.cos(theta), np.sin(theta)], 1)
        dh = np.hypot(*(pos - hilum).T) / scale
        lumen_mm = (1.2 + 3.5 * np.exp(-3.0 * dh)) * size
        for k in range(len(theta)):
            r, wall = lumen_mm[k] * px, max(1.0, 0.3 * lumen_mm[k] * px)
            _ellipse(img, pos[k], (r + wall, r + wall), 0, -60)
            _ellipse(img, pos[k], (r, r), 0, -960)
            # Bronchovascular bundle: an artery beside each bronchus.
            off = (r + wall + 0.9 * r) * np.array([np.cos(side[k]), np.sin(side[k])])
            _ellipse(img, pos[k] + off, (0.9 * r, 0.9 * r), 0, hu)


def slice_background(thorax, scale, rng_slice):
    """The anatomy at one slice (scaled) and the slice's noise and texture."""
    if scale == 1.0:
        background = thorax.image.copy()
    else:
        matrix = cv2.getRotationMatrix2D(((SIZE - 1) / 2, (SIZE - 1) / 2), 0, scale)
        background = cv2.warpAffine(
            thorax.image, matrix, (SIZE, SIZE), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
    noise = rng_slice.standard_normal((SIZE, SIZE), dtype=np.float32)
    noise = cv2.GaussianBlur(noise, (_NOISE_KSIZE, _NOISE_KSIZE), _NOISE_SIGMA)
    noise *= np.float32(thorax.noise_hu * np.sqrt(_NOISE_GAIN))
    texture = _smooth_field(rng_slice, (SIZE, SIZE), 128)
    levels = {
        "ggo": rng_slice.normal(-650, 30),
        "solid": rng_slice.uniform(0, 60),
        "calc": rng_slice.uniform(-150, 150),
    }
    return background, noise, texture, levels


def draw_nodule(img, contour, ratings, texture, levels, rng, look=A):
    """Composite a nodule with the given ratings into ``img`` (in place).

    ``look`` holds the rendering's intensity tables (``_appearance.A`` or
    ``B``). Returns the nodule's mask (full size, uint8) and its centroid
    ``(row, col)``.
    """
    x0, y0, w, h = cv2.boundingRect(np.asarray(contour, np.int32).reshape(-1, 1, 2))
    pad = 6
    r0, r1 = max(y0 - pad, 0), min(y0 + h + pad, SIZE)
    c0, c1 = max(x0 - pad, 0), min(x0 + w + pad, SIZE)
    mask = rasterise(contour, (r1 - r0, c1 - c0), offset=(c0, r0))
    dist = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    maxd = float(dist.max())
    inside = mask.astype(bool)

    # Texture: a solid core of the rated fraction inside ground glass.
    fraction = look.solid_fraction.get(int(ratings["texture"]), 1.0)
    if fraction >= 1.0:
        solid = inside.astype(np.float32)
    elif fraction <= 0.0:
        solid = np.zeros_like(dist)
    else:
        threshold = (1.0 - fraction) * maxd
        solid = np.clip((dist - threshold) / max(1.0, look.solid_ramp * maxd) + 0.5,
                        0, 1)
        solid *= inside
    tex = texture[r0:r1, c0:c1]
    hu = levels["ggo"] + (levels["solid"] - levels["ggo"]) * solid
    amp_ggo, amp_solid = look.texture_amp
    hu += tex * (amp_ggo * (1.0 - solid) + amp_solid * solid)
    negative = np.zeros_like(inside)

    structure = int(ratings["internalStructure"])
    if structure in _INTERNAL_HU and maxd >= 3:
        core = dist >= 0.5 * maxd
        hu[core] = _INTERNAL_HU[structure]
        if structure == 4:
            negative = core

    calcification = int(ratings["calcification"])
    if calcification < 6:
        calc = _calcification(calcification, dist, maxd, rng)
        calc_hu = look.calc_hu[calcification] + levels["calc"]
        if look.calc_blur > 0:
            weight = cv2.GaussianBlur(calc.astype(np.float32), (0, 0), look.calc_blur)
            weight = np.maximum(weight, 0.5 * calc) * inside
            hu += weight * (calc_hu - hu)
        else:
            hu[calc] = calc_hu

    window = img[r0:r1, c0:c1]
    delta = hu - window
    # Ground glass raises attenuation without hiding the vessels inside it; only
    # air (cavitation) lowers it.
    delta = np.where(negative, delta, np.maximum(delta, 0))
    subtlety = int(ratings["subtlety"])
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), look.edge_blur[subtlety])
    alpha = np.maximum(alpha, 0.5 * mask)
    window += (look.contrast[subtlety] * alpha * delta).astype(np.float32)
    full = np.zeros((SIZE, SIZE), np.uint8)
    full[r0:r1, c0:c1] = mask
    m = cv2.moments(mask, binaryImage=True)
    centre = (r0 + m["m01"] / m["m00"], c0 + m["m10"] / m["m00"])
    return full, centre


def _calcification(kind, dist, maxd, rng):
    """Mask of the calcified part of a nodule (LIDC calcification 1-5)."""
    inside = dist > 0
    if maxd < 2.5:
        out = np.zeros_like(inside)
        out[np.unravel_index(np.argmax(dist), dist.shape)] = True
        return out if kind != 3 else inside
    rows, cols = np.nonzero(dist >= 0.35 * maxd)
    centre = np.unravel_index(np.argmax(dist), dist.shape)
    rr, cc = np.indices(dist.shape)

    def disk(r_, c_, radius):
        return ((rr - r_) ** 2 + (cc - c_) ** 2 <= radius**2) & inside

    if kind == 3:  # solid
        return dist >= 0.2 * maxd
    if kind == 5:  # central
        return disk(*centre, max(1.0, 0.4 * maxd))
    if kind == 4:  # non-central
        far = np.argmax((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2)
        return disk(rows[far], cols[far], max(1.0, 0.3 * maxd))
    if kind == 2:  # laminated: concentric rings
        return ((dist >= 0.3 * maxd) & (dist <= 0.45 * maxd)) | (dist >= 0.8 * maxd)
    # 1, popcorn: scattered small foci
    out = np.zeros_like(inside)
    for k in rng.choice(len(rows), size=min(len(rows), int(rng.integers(3, 7))),
                        replace=False):
        out |= disk(rows[k], cols[k], max(1.0, 0.18 * maxd))
    return out


def finish(img, noise, psf_sigma=0.0):
    """Blur by the scanner's PSF (sigma in px; 0: none), add CT noise, quantise.

    The result is int16 HU in the scanner range -1024..3071.
    """
    if psf_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), psf_sigma)
    img += noise
    np.clip(img, HU_MIN, HU_MAX, out=img)
    return np.rint(img).astype(np.int16)
