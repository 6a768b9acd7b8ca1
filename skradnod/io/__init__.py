"""Reading and writing NRRD images and paired nodule data sets (method step 1)."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import Bunch
from tqdm.auto import tqdm

from ..base import LazyImageBatch, check_image_batch, stack_images
from ..base._batch import ImageStepMixin, frame_ids, load_image
from ..base._nrrd import declared_spacing, read_nrrd, write_nrrd
from ._layouts import LABELS_NAME, UnusedFilesWarning, infer_manifest, read_table

__all__ = [
    "NrrdLoader",
    "UnusedFilesWarning",
    "infer_manifest",
    "load_nodule_dataset",
    "read_nrrd",
    "write_nrrd",
]

MANIFEST_NAME = "manifest.csv"
REQUIRED_COLUMNS = ("id", "full", "nodule", "malignancy")
_LABEL_MODES = ("required", "optional")
# Frame columns of each image's declared (row_mm, col_mm) spacing, or None.
SPACING_COLUMNS = ("full_spacing", "nodule_spacing")


def _read_manifest(path, labels="required"):
    path = Path(path)
    if path.is_dir():
        manifest_path = path / MANIFEST_NAME
    else:
        manifest_path = path
    if path.is_dir() and not manifest_path.is_file():
        # No manifest: the folder may be in one of the common layouts (its
        # labels, if not class folders, come from labels.csv).
        manifest = infer_manifest(path, labels=labels)
        manifest_path = path / LABELS_NAME
    elif not manifest_path.is_file():
        raise FileNotFoundError(
            f"No manifest found at {os.fspath(manifest_path)!r}: a data set folder "
            f"must hold {MANIFEST_NAME} with columns {', '.join(REQUIRED_COLUMNS)} "
            "(and optionally patient_id)."
        )
    else:
        manifest = read_table(manifest_path)
    required = REQUIRED_COLUMNS if labels == "required" else REQUIRED_COLUMNS[:3]
    missing = [c for c in required if c not in manifest.columns]
    if missing:
        raise ValueError(
            f"Manifest {os.fspath(manifest_path)!r} lacks column(s) {missing}; it "
            f"has {list(manifest.columns)}."
        )
    taken = [c for c in SPACING_COLUMNS if c in manifest.columns]
    if taken:
        raise ValueError(
            f"Manifest {os.fspath(manifest_path)!r}: column(s) {taken} are filled "
            "by load_nodule_dataset with each file's declared pixel spacing "
            "(from its NRRD header); rename them."
        )
    if manifest["id"].duplicated().any():
        dup = manifest.loc[manifest["id"].duplicated(), "id"].tolist()[:5]
        raise ValueError(
            f"Manifest {os.fspath(manifest_path)!r} repeats id(s) {dup}."
        )
    # Optional labels are optional as a column; a column that is there is
    # checked as strictly as a required one (an empty cell is no label).
    given = (pd.to_numeric(manifest["malignancy"], errors="coerce")
             if "malignancy" in manifest.columns else None)
    bad = ~given.isin([1, 2, 3, 4, 5]) if given is not None else pd.Series(False)
    if bad.any():
        rows = manifest.loc[bad, ["id", "malignancy"]].head(5).to_dict("records")
        raise ValueError(
            f"Manifest {os.fspath(manifest_path)!r}: malignancy must be an integer "
            f"1-5; {int(bad.sum())} row(s) are not, e.g. {rows}."
        )
    if "patient_id" in manifest.columns:
        empty = manifest["patient_id"].isna() | (
            manifest["patient_id"].astype(str).str.strip() == ""
        )
        if empty.any():
            ids = manifest.loc[empty, "id"].head(5).tolist()
            raise ValueError(
                f"Manifest {os.fspath(manifest_path)!r}: patient_id is empty in "
                f"{int(empty.sum())} row(s), e.g. id={ids}. Give every row its "
                "patient's id, or drop the patient_id column to run without "
                "patient-grouped folds."
            )
    if "malignancy_readers" in manifest.columns:
        from ._readers import parse_malignancy_readers

        parse_malignancy_readers(manifest["malignancy_readers"], ids=manifest["id"],
                                 where=f"Manifest {os.fspath(manifest_path)!r}")
    return manifest, manifest_path.parent


def _stack_exact(images):
    """Stack images without changing a pixel: one dtype that holds them all.

    Files of one data set may differ in dtype (uint8 crops beside int16 ones);
    they are widened to ``np.result_type`` of all of them, never narrowed to the
    first one's. Where even that cannot hold every value exactly (int64 beside
    float32, say), the images keep their own dtypes in an object array.
    """
    dtypes = {image.dtype for image in images}
    dtype = np.result_type(*dtypes)
    if len(dtypes) > 1 and not all(
        np.array_equal(image.astype(dtype).astype(image.dtype), image)
        for image in images
    ):
        out = np.empty(len(images), dtype=object)
        for i, image in enumerate(images):
            out[i] = image
        return out
    return stack_images(images, dtype=dtype)


def load_nodule_dataset(path, *, lazy=False, allow_outside=False, labels="required"):
    """Load a folder of (full slice, nodule crop) NRRD pairs with their labels.

    Parameters
    ----------
    path : str or os.PathLike
        A folder holding ``manifest.csv``, or the manifest file itself. The
        manifest has columns ``id, full, nodule, malignancy`` and optionally
        ``patient_id``; ``full`` and ``nodule`` are paths relative to the
        manifest's folder. Other columns (ratings, nodule centre ``cx, cy``) are
        carried into ``frame``. A folder without ``manifest.csv`` may be in one
        of the common layouts, ``ROOT/<label>/<name>_full.nrrd`` +
        ``_nodule.nrrd``, ``ROOT/full/<label>/<name>.nrrd`` +
        ``ROOT/nodule/<label>/<name>.nrrd``, or either without class folders
        plus a ``labels.csv`` (``name, malignancy`` and optionally
        ``patient_id``); see :func:`infer_manifest`. ``layout`` says which was
        found; ``skradnod make-manifest DIR`` writes the inferred manifest.
    lazy : bool, default=False
        If True, ``frame``, ``full`` and ``nodule`` hold absolute paths and no
        image is read; every skradnod transformer accepts paths (see
        :class:`NrrdLoader`). If False, images are read into memory, and no
        pixel is changed: files of different dtypes are widened to one dtype
        that holds them all (``numpy.result_type``; an object array of the
        images in their own dtypes when none does), never cast to the first
        file's.
    allow_outside : bool, default=False
        Whether manifest paths may resolve (after symbolic links) outside the
        data folder: absolute paths, ``..`` escapes, links out of it. By default
        such a row is an error naming it, so a manifest reads only files under
        the folder it sits in; when allowed, the files read are listed in
        ``outside_paths``.
    labels : {"required", "optional"}, default="required"
        ``"optional"`` reads data to predict on: a manifest without a
        ``malignancy`` column, a ``labels.csv`` without one (it may still give
        ``patient_id``), or a folder of pairs without class folders and
        without ``labels.csv`` (``<name>_full.nrrd`` + ``<name>_nodule.nrrd``,
        or ``full/<name>.nrrd`` + ``nodule/<name>.nrrd``; layouts
        ``suffixes`` and ``full-nodule``). ``target`` is then None. A label
        column that is there is checked as with ``"required"``: a cell that is
        not an integer 1-5 is an error, never read as "unlabelled".

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        frame : DataFrame indexed by id, with columns ``full``, ``nodule`` (arrays
            or paths), ``full_spacing`` and ``nodule_spacing`` (each file's
            declared ``(row_mm, col_mm)`` pixel spacing, None where its header
            declares none: what ``RadiomicsExtractor(spacing="nodule_spacing")``
            reads, so that images in memory keep their files' spacing) and the
            manifest's extra columns.
        full : ndarray of shape (n, 512, 512) or list of str
            Full slices (paths when ``lazy``).
        nodule : ndarray of shape (n,) and dtype object, or list of str
            Nodule crops (sizes differ).
        target : ndarray of shape (n,) or None
            Malignancy 1-5 (None for unlabelled data, ``labels="optional"``).
        groups : ndarray of shape (n,) or None
            Patient ids when the manifest has ``patient_id``.
        ids : ndarray of shape (n,)
            The manifest's ``id`` column.
        manifest : DataFrame
            The manifest as read (or inferred).
        layout : str
            ``"manifest.csv"``, or the folder layout the manifest was inferred
            from (see :func:`infer_manifest`).
        outside_paths : list of str
            The files read from outside the data folder (empty unless
            ``allow_outside=True``).
        files : DataFrame
            Indexed by id, columns ``full`` and ``nodule``: the absolute path
            of each file read (also when images are in memory), e.g. to read
            the pixel spacing of their headers.

    Raises
    ------
    FileNotFoundError
        For a missing manifest (in a folder of no known layout) or image file
        (naming the file and the row).
    ValueError
        For a path outside the data folder (unless ``allow_outside``), a
        missing column, a label outside 1-5, an empty ``patient_id``, or
        an unreadable, non-2D or non-finite (NaN/inf) image (naming the file
        and the row); in a folder without a manifest, one error lists every
        unpaired file and pair without a label.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skradnod.io import load_nodule_dataset, write_nrrd
    >>> root = tempfile.mkdtemp()
    >>> for name, label in [("a", 1), ("b", 4)]:
    ...     write_nrrd(os.path.join(root, "full", str(label), f"{name}.nrrd"),
    ...                np.zeros((512, 512), np.int16))
    ...     write_nrrd(os.path.join(root, "nodule", str(label), f"{name}.nrrd"),
    ...                np.zeros((40, 40), np.int16))
    >>> data = load_nodule_dataset(root)
    >>> data.layout, data.target.tolist(), data.full.shape
    ('full-nodule-class-folders', [1, 4], (2, 512, 512))
    """
    if labels not in _LABEL_MODES:
        raise ValueError(
            f"load_nodule_dataset: labels must be one of {_LABEL_MODES}; got "
            f"{labels!r}."
        )
    manifest, root = _read_manifest(path, labels)
    inside = root.resolve()
    paths, outside = {}, []
    for column in ("full", "nodule"):
        resolved = []
        for row_id, rel in zip(manifest["id"], manifest[column]):
            if not isinstance(rel, str) or not rel:
                raise ValueError(
                    f"Manifest row id={row_id!r}: column {column!r} holds no path "
                    f"({rel!r})."
                )
            file = (root / rel).resolve()
            if not file.is_relative_to(inside):
                # An absolute path, a ".." escape or a link out of the folder:
                # read only where the user pointed, unless they said otherwise.
                if not allow_outside:
                    raise ValueError(
                        f"Manifest row id={row_id!r}: {column} path {rel!r} "
                        f"resolves to {os.fspath(file)!r}, outside the data "
                        f"folder {os.fspath(inside)!r}. Move the file into the "
                        "folder, or pass allow_outside=True (--allow-outside) "
                        "to read it."
                    )
                outside.append(os.fspath(file))
            if not file.is_file():
                raise FileNotFoundError(
                    f"Manifest row id={row_id!r}: {column} image not found: "
                    f"{os.fspath(file)!r}"
                )
            resolved.append(os.fspath(file))
        paths[column] = resolved

    if lazy:
        full, nodule = paths["full"], paths["nodule"]
    else:
        images = {"full": [], "nodule": []}
        pairs = zip(manifest["id"], paths["full"], paths["nodule"])
        for row_id, full_path, nodule_path in tqdm(
            pairs, total=len(manifest), desc="Reading NRRD pairs",
            disable=len(manifest) < 200, unit="pair",
        ):
            for column, file in (("full", full_path), ("nodule", nodule_path)):
                try:
                    # The same read and check a lazy batch makes.
                    image = load_image(file, len(images[column]))
                except (ValueError, FileNotFoundError) as exc:
                    raise type(exc)(f"Manifest row id={row_id!r}: {exc}") from exc
                images[column].append(image)
        full = _stack_exact(images["full"])
        nodule = _stack_exact(images["nodule"])

    ids = manifest["id"].to_numpy()
    extra = [
        c for c in manifest.columns
        if c not in ("id", "full", "nodule", "malignancy", "patient_id")
    ]
    frame = pd.DataFrame(
        {
            # frame cells hold one 2D array each (views of a stacked batch)
            "full": full if lazy else list(full),
            "nodule": nodule if lazy else list(nodule),
        },
        index=pd.Index(ids, name="id"),
    )
    for column in extra:
        frame[column] = manifest[column].to_numpy()
    for column, spacing in zip(("full", "nodule"), SPACING_COLUMNS):
        # Each file's declared spacing, so that images read into memory keep
        # it (RadiomicsExtractor(spacing="nodule_spacing") reads the column).
        frame[spacing] = [declared_spacing(f) for f in paths[column]]
    groups = (
        manifest["patient_id"].to_numpy() if "patient_id" in manifest.columns else None
    )
    return Bunch(
        frame=frame,
        full=full,
        nodule=nodule,
        target=(manifest["malignancy"].astype(int).to_numpy()
                if "malignancy" in manifest.columns else None),
        groups=groups,
        ids=ids,
        manifest=manifest,
        layout=manifest.attrs.get("layout", MANIFEST_NAME),
        outside_paths=outside,
        files=pd.DataFrame(paths, index=pd.Index(ids, name="id")),
    )


class NrrdLoader(
    ImageStepMixin, TransformerMixin, BaseEstimator, auto_wrap_output_keys=None
):
    """Read an image batch of NRRD paths into arrays; arrays pass through.

    Put it first in a pipeline so that a pipeline fitted on arrays also runs on
    paths (``skradnod.io.load_nodule_dataset(..., lazy=True)``).

    Parameters
    ----------
    lazy : bool, default=False
        If True, return a :class:`~skradnod.base.LazyImageBatch` that reads each
        image only when it is accessed (later image transformers then append their
        per-image step instead of computing), keeping memory to a few images.

    Notes
    -----
    Without ``lazy`` the images come out as float32, and no pixel is changed
    on the way: an image whose values float32 cannot hold exactly (int64 or
    int32 beyond 2**24, float64 with more precision) and a complex image are
    refused with an error naming the sample, never rounded or cut to their
    real part. Cast such images yourself if the rounding is acceptable.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.io import NrrdLoader
    >>> NrrdLoader().fit_transform(np.zeros((2, 4, 4), dtype=np.int16)).dtype
    dtype('float32')
    """

    _parameter_constraints = {"lazy": ["boolean"]}

    def __init__(self, lazy=False):
        self.lazy = lazy

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate parameters; the loader learns nothing.

        Parameters
        ----------
        X : image batch
            Ignored apart from validation of its form.
        y : None
            Ignored.

        Returns
        -------
        self : NrrdLoader
        """
        if not self.lazy:
            check_image_batch(X, allow_lazy=True)
        return self

    def fit_transform(self, X, y=None):
        """Read the images (or, if ``lazy``, wrap the paths without reading).

        Parameters
        ----------
        X : image batch (paths, arrays or a lazy batch)
        y : None
            Ignored.

        Returns
        -------
        images : ndarray of shape (n, H, W), object ndarray of shape (n,), or
            LazyImageBatch
            As :meth:`transform` returns them.
        """
        if self.lazy:
            # Nothing is read until an image is accessed.
            return self.fit(X).transform(X)
        # fit learns nothing and would read every file; transform reads each
        # once and, given X as passed, names its files in errors.
        self._validate_params()
        return self.transform(X)

    def transform(self, X):
        """Read the images.

        Parameters
        ----------
        X : image batch (paths, arrays or a lazy batch)

        Returns
        -------
        images : ndarray of shape (n, H, W), object ndarray of shape (n,), or
            LazyImageBatch
            float32 images (3D when sizes agree), equal pixel for pixel to the
            input.

        Raises
        ------
        ValueError
            Naming the sample (and its file), if an image is complex or holds a
            value float32 cannot represent exactly.
        """
        if self.lazy:
            if isinstance(X, LazyImageBatch):
                return X
            ids = frame_ids(X)  # a frame column's index: the manifest ids
            if hasattr(X, "to_numpy"):
                X = X.to_numpy()
            if isinstance(X, np.ndarray) and X.dtype != object:
                X = check_image_batch(X)
            return LazyImageBatch(list(X), ids=ids)
        batch = check_image_batch(X, allow_lazy=True)
        sources = _batch_sources(X)
        if isinstance(batch, np.ndarray):
            return _exact_float32(batch, "X")
        # A lazy batch is read here rather than by its materialize(), which
        # casts to float32 unchecked.
        images = batch if isinstance(batch, list) else [
            batch[i] for i in range(len(batch))
        ]
        return stack_images([
            _exact_float32(image, _sample_name(i, sources))
            for i, image in enumerate(images)
        ])


def _batch_sources(X):
    """The items of a batch as given (to name files in errors), or None."""
    if isinstance(X, LazyImageBatch):
        return X.sources
    if hasattr(X, "to_numpy"):
        return list(X.to_numpy().ravel())
    if isinstance(X, np.ndarray) and X.dtype != object:
        return None
    try:
        return list(X)
    except TypeError:
        return None


def _sample_name(index, sources):
    source = sources[index] if sources is not None else None
    if isinstance(source, (str, os.PathLike)):
        return f"sample {index} ({os.fspath(source)!r})"
    return f"sample {index}"


def _exact_float32(images, where):
    """``images`` as float32, refused if that would change a value.

    Parameters
    ----------
    images : ndarray
        One image or a 3D batch.
    where : str
        Named in errors ("sample 3 ('a.nrrd')", "X").

    Returns
    -------
    images : ndarray of dtype float32
    """
    if np.iscomplexobj(images):
        raise ValueError(
            f"NrrdLoader: image batch {where} is complex ({images.dtype}); CT "
            "images are real and the imaginary part is not dropped for you. "
            "Pass np.real(...) or np.abs(...) of it."
        )
    if np.can_cast(images.dtype, np.float32, casting="safe"):
        return images.astype(np.float32, copy=False)
    with np.errstate(invalid="ignore", over="ignore"):
        as_float = images.astype(np.float32)
        # Back in the original dtype: comparing in a common dtype (float64)
        # would itself round int64 values beyond 2**53.
        changed = as_float.astype(images.dtype) != images
    if changed.any():
        position = np.unravel_index(int(np.argmax(changed)), images.shape)
        value = images[position]
        if images.ndim == 3:
            where = f"{where} sample {int(position[0])}"
        at = tuple(int(i) for i in position)
        raise ValueError(
            f"NrrdLoader: image batch {where} has {images.dtype} values that "
            f"float32 would change (e.g. {value.item()!r} at {at} becomes "
            f"{as_float[position].item()!r}); NrrdLoader never rounds a pixel. "
            "Cast the images yourself if the rounding is acceptable, or keep "
            "them out of the loader."
        )
    return as_float
