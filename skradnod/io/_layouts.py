"""Data set folders without a manifest: the common layouts of NRRD pairs.

:func:`infer_manifest` recognises four layouts of (full slice, nodule crop) pairs
and writes the manifest that :func:`skradnod.io.load_nodule_dataset` would
otherwise read from ``manifest.csv``:

``class-folders``
    ``ROOT/<label>/<name>_full.nrrd`` and ``ROOT/<label>/<name>_nodule.nrrd``;
``full-nodule-class-folders``
    ``ROOT/full/<label>/<name>.nrrd`` and ``ROOT/nodule/<label>/<name>.nrrd``;
``suffixes+labels.csv``
    ``ROOT/<name>_full.nrrd`` and ``ROOT/<name>_nodule.nrrd`` with ``labels.csv``;
``full-nodule+labels.csv``
    ``ROOT/full/<name>.nrrd`` and ``ROOT/nodule/<name>.nrrd`` with ``labels.csv``.

``<label>`` is a class folder ``1`` to ``5``. ``labels.csv`` has columns ``name``
and ``malignancy``, optionally ``patient_id`` and any others (carried into the
manifest); with class folders it is optional and, if present, must agree with
them. Every ``.nrrd`` file where a layout looks for pairs must belong to a
pair and every pair must have a label: otherwise one error lists all the
problems. A folder that two layouts could read (``full/`` and ``nodule/``
beside class folders or beside ``*_full.nrrd`` files) is an error naming both
readings.

NRRD files (``.nrrd``, ``.nhdr``) anywhere else under the root, in sub-folders
the layout does not read, for instance, are not read, and one
:class:`UnusedFilesWarning` lists them (paths relative to the root) with the
reason. Hidden files (names starting with ``.``, such as macOS's ``._*``
AppleDouble files) are never taken as pairs and are listed in that warning;
hidden folders (``.git``, ``.Trash``, ``.ipynb_checkpoints``) are not looked
into at all.
"""

import csv
import io
import os
import warnings
from pathlib import Path

import pandas as pd
from pandas._libs.parsers import STR_NA_VALUES

_DEFAULT_NA = sorted(STR_NA_VALUES)

__all__ = ["LABELS_NAME", "UnusedFilesWarning", "infer_manifest", "read_table"]

LABELS_NAME = "labels.csv"
CLASSES = ("1", "2", "3", "4", "5")
_SUFFIXES = {"full": "_full", "nodule": "_nodule"}
_SHOWN = 10
# Columns that identify a sample or a patient: read as written ("0007" stays
# "0007", "NA" stays "NA"), never converted to numbers or missing values, so ids
# round-trip and patients "007" and "7" stay two groups.
ID_COLUMNS = ("id", "name", "patient_id")
# Where each layout reads its pairs, for the messages.
_PATTERNS = {
    "class-folders": "<label>/<name>_full.nrrd and <label>/<name>_nodule.nrrd",
    "full-nodule-class-folders":
        "full/<label>/<name>.nrrd and nodule/<label>/<name>.nrrd",
    "suffixes+labels.csv": "<name>_full.nrrd and <name>_nodule.nrrd at the top",
    "full-nodule+labels.csv": "full/<name>.nrrd and nodule/<name>.nrrd",
    # The two layouts without labels.csv, read only when labels are optional.
    "suffixes": "<name>_full.nrrd and <name>_nodule.nrrd at the top",
    "full-nodule": "full/<name>.nrrd and nodule/<name>.nrrd",
}
_NRRD_SUFFIXES = (".nrrd", ".nhdr")


class UnusedFilesWarning(UserWarning):
    """A folder layout found NRRD files that it does not read.

    Issued once by :func:`infer_manifest` (and so by
    :func:`~skradnod.io.load_nodule_dataset` on a folder without
    ``manifest.csv``), listing the files and why each is not read.

    Parameters
    ----------
    message : str
        The warning's text.
    files : dict of str to str
        Each unused file's path relative to the data set folder, and the reason.

    Attributes
    ----------
    files : dict of str to str
        As given: every unused file, also those the message leaves out.
    """

    def __init__(self, message, files=None):
        super().__init__(message)
        self.files = dict(files or {})


def read_table(path):
    """Read a manifest or labels CSV, id columns as strings exactly as written.

    pandas infers each column's type; for the columns of :data:`ID_COLUMNS`
    that would turn ``0001`` into ``1`` and merge patients ``007`` and ``7``.
    Those columns keep their text verbatim (an empty cell is ``""``); other
    columns named ``*_id`` (``nodule_id``, ``scan_id``) are integers where
    every cell is written as its integer (``7``, not ``007`` or ``7.0``) and
    text exactly as written otherwise; the rest are parsed as usual. A file
    that is empty, has a header but no rows, is not UTF-8 text, or has a row
    with more or fewer cells than its header raises a ``ValueError`` naming
    the file (and the line).
    """
    path = Path(path)
    name = os.fspath(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name!r} is not a UTF-8 CSV file ({exc}).") from None
    # pandas pads short rows with NaN and shifts long ones into an index
    # without an error: count the cells of every row first.
    try:
        rows = [row for row in csv.reader(io.StringIO(text)) if row]
    except csv.Error as exc:
        raise ValueError(f"{name!r} is not a CSV table ({exc}).") from None
    if not rows:
        raise ValueError(f"{name!r} is empty: a CSV table with a header is needed.")
    if len(rows) == 1:
        raise ValueError(f"{name!r} has a header but no rows.")
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(rows[0]):
            raise ValueError(
                f"{name!r}, row {line} (the header is row 1): {len(row)} cell(s) "
                f"where the header has "
                f"{len(rows[0])} ({', '.join(rows[0])})."
            )
    # The readers' ratings ("3;4;4") are text too: "4" alone would be a number.
    # Other ids (nodule_id, scan_id, ...) are read as text first, below.
    ids = [c for c in rows[0]
           if c in (*ID_COLUMNS, "malignancy_readers") or c.endswith("_id")]
    others = [c for c in rows[0] if c not in ids]
    try:
        table = pd.read_csv(
            io.StringIO(text),
            index_col=False,
            dtype=dict.fromkeys(ids, str),
            keep_default_na=False,
            # Other columns keep pandas' missing-value rules.
            na_values=dict.fromkeys(others, _DEFAULT_NA),
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise ValueError(f"Cannot read {name!r} as a CSV table: {exc}") from None
    for column in ids:
        # A nodule_id column is numbers only if every cell is written as its
        # number: "007" beside "7" would otherwise be one nodule.
        if (column not in (*ID_COLUMNS, "malignancy_readers")
                and table[column].str.fullmatch(r"-?(0|[1-9][0-9]{0,17})").all()):
            table[column] = table[column].astype("int64")
    return table


def _nrrd_files(folder):
    # Hidden files are skipped like hidden folders: macOS writes an AppleDouble
    # "._<name>.nrrd" beside every file it copies to a foreign disk, which is
    # not an image.
    return sorted(p for p in folder.iterdir() if p.is_file()
                  and p.suffix.lower() == ".nrrd" and not p.name.startswith("."))


def _subfolders(folder):
    return sorted(p for p in folder.iterdir() if p.is_dir()
                  and not p.name.startswith("."))


class _Problems(list):
    """Problems found in a folder, raised as one error."""

    def raise_if_any(self, root, layout):
        if not self:
            return
        # One line (the command line prints errors as one line).
        shown = "; ".join(self[:_SHOWN])
        more = f"; ... and {len(self) - _SHOWN} more" if len(self) > _SHOWN else ""
        raise ValueError(
            f"Data set folder {os.fspath(root)!r} (layout {layout}, no "
            f"manifest.csv): {len(self)} problem(s): {shown}{more}"
        )


def _class_of(folder, problems):
    if folder.name not in CLASSES:
        problems.append(
            f"{folder.as_posix()}/: not a class folder (expected 1 to 5)"
        )
        return None
    return int(folder.name)


def _scan_suffixed(folder, label, found, problems, root):
    """``<name>_full.nrrd`` / ``<name>_nodule.nrrd`` in ``folder``."""
    for file in _nrrd_files(folder):
        stem = file.stem
        kind = next((k for k, s in _SUFFIXES.items() if stem.endswith(s)), None)
        rel = file.relative_to(root).as_posix()
        if kind is None:
            problems.append(f"{rel}: name ends neither in _full nor in _nodule")
            continue
        name = stem[: -len(_SUFFIXES[kind])]
        found.setdefault(name, []).append((kind, rel, label))


def _scan_plain(folder, kind, label, found, root):
    for file in _nrrd_files(folder):
        rel = file.relative_to(root).as_posix()
        found.setdefault(file.stem, []).append((kind, rel, label))


def _check_one_reading(root):
    """Refuse a folder that two layouts could read.

    ``full/`` and ``nodule/`` win over class folders and ``*_full.nrrd`` files
    at the top, so pairs of the other reading were dropped without a word.
    (Class folders beside ``*_full.nrrd`` files at the top are reported as
    files outside a class folder.)
    """
    if not ((root / "full").is_dir() and (root / "nodule").is_dir()):
        return
    classes = any(_subfolders(root / "full")) or any(_subfolders(root / "nodule"))
    readings = [
        f"{'full-nodule-class-folders' if classes else 'full-nodule+labels.csv'} "
        "(full/ and nodule/)"
    ]
    filled = [p.name + "/" for p in _subfolders(root)
              if p.name in CLASSES and _nrrd_files(p)]
    if filled:
        readings.append(f"class-folders ({', '.join(filled)})")
    tops = [f.name for f in _nrrd_files(root)
            if f.stem.endswith(tuple(_SUFFIXES.values()))]
    if tops:
        readings.append(f"suffixes+labels.csv ({len(tops)} file(s) such as "
                        f"{tops[0]} at the top)")
    if len(readings) > 1:
        raise ValueError(
            f"Data set folder {os.fspath(root)!r} (no manifest.csv) can be read "
            f"{len(readings)} ways: as {', or as '.join(readings)}. Keep one "
            "layout in the folder, or write a manifest.csv listing the pairs to "
            "use."
        )


def _detect(root, problems):
    """Find the layout; return ``(layout, found)``, ``found[name] = [(kind,
    relative path, class or None)]``."""
    found = {}
    _check_one_reading(root)
    if (root / "full").is_dir() and (root / "nodule").is_dir():
        classes = any(_subfolders(root / "full")) or any(_subfolders(root / "nodule"))
        for kind in ("full", "nodule"):
            top = root / kind
            if classes:
                for file in _nrrd_files(top):
                    problems.append(
                        f"{file.relative_to(root).as_posix()}: outside a class "
                        "folder"
                    )
                for sub in _subfolders(top):
                    label = _class_of(sub.relative_to(root), problems)
                    if label is not None:
                        _scan_plain(sub, kind, label, found, root)
            else:
                _scan_plain(top, kind, None, found, root)
        layout = ("full-nodule-class-folders" if classes
                  else "full-nodule+labels.csv")
        return layout, found
    subfolders = _subfolders(root)
    if any(p.name in CLASSES for p in subfolders):
        for sub in subfolders:
            label = _class_of(sub.relative_to(root), problems)
            if label is not None:
                _scan_suffixed(sub, label, found, problems, root)
        for file in _nrrd_files(root):
            rel = file.relative_to(root).as_posix()
            problems.append(f"{rel}: outside a class folder")
        return "class-folders", found
    if any(f.stem.endswith(_SUFFIXES["full"]) for f in _nrrd_files(root)):
        _scan_suffixed(root, None, found, problems, root)
        return "suffixes+labels.csv", found
    return None, found


def _read_labels(path, problems, required=True):
    labels = read_table(path)
    needed = ("name", "malignancy") if required else ("name",)
    missing = [c for c in needed if c not in labels.columns]
    if missing:
        raise ValueError(
            f"{os.fspath(path)!r} lacks column(s) {missing}; it has "
            f"{list(labels.columns)} (needs name, malignancy, optionally "
            "patient_id)."
        )
    for name in labels.loc[labels["name"].duplicated(), "name"]:
        problems.append(f"{LABELS_NAME}: name {name!r} repeated")
    return labels.drop_duplicates("name").set_index("name")


def _pair_rows(found, labels, problems):
    rows = []
    for name in sorted(found):
        files = found[name]
        kinds = [k for k, _, _ in files]
        if sorted(kinds) != ["full", "nodule"]:
            listed = ", ".join(rel for _, rel, _ in files)
            what = "no nodule crop" if "nodule" not in kinds else (
                "no full slice" if "full" not in kinds else "more than one pair")
            problems.append(f"{name}: {what} ({listed})")
            continue
        paths = {k: rel for k, rel, _ in files}
        classes = {c for _, _, c in files}
        if len(classes) > 1:
            problems.append(f"{name}: full slice and crop in different class "
                            f"folders {sorted(classes)}")
            continue
        label = classes.pop()
        row = {"id": name, "full": paths["full"], "nodule": paths["nodule"]}
        if labels is not None and name in labels.index:
            extra = labels.loc[name].to_dict()
            # Absent only from a labels.csv of unlabelled data (labels
            # optional); a cell that is there is checked with the manifest.
            given = extra.pop("malignancy", None)
            if label is not None and given is not None and given != label:
                problems.append(f"{name}: class folder {label} but {LABELS_NAME} "
                                f"says {given}")
                continue
            if given is not None or label is not None:
                row["malignancy"] = label if given is None else given
            row.update(**extra)
        elif label is None and labels is not None:
            what = "label" if "malignancy" in labels.columns else "row"
            problems.append(f"{name}: no {what} in {LABELS_NAME}")
            continue
        elif label is None:
            pass  # unlabelled data without labels.csv (labels optional)
        else:
            row["malignancy"] = label
        rows.append(row)
    if labels is not None:
        for name in labels.index.difference(list(found)):
            problems.append(f"{LABELS_NAME}: {name!r} names no image pair")
    return rows


def _nrrd_tree(root):
    """Every NRRD file under ``root``, relative to it: hidden files included,
    hidden folders not entered, links followed once."""
    seen, files = set(), []
    for folder, subfolders, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a link back up the tree
            subfolders[:] = []
            continue
        seen.add(real)
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        files += [Path(folder, n).relative_to(root).as_posix() for n in names
                  if n.lower().endswith(_NRRD_SUFFIXES)]
    return sorted(files)


def _unused_reason(rel, layout):
    name = rel.rsplit("/", 1)[-1]
    if name.startswith("."):
        return ("hidden files, such as macOS's ._* AppleDouble files, are not "
                "images")
    if name.lower().endswith(".nhdr"):
        return "folder layouts pair .nrrd files only, not detached .nhdr headers"
    return f"layout {layout} reads only {_PATTERNS[layout]}"


def _warn_unused(root, layout, rows):
    """One :class:`UnusedFilesWarning` for the NRRD files no row uses."""
    used = {row[kind] for row in rows for kind in ("full", "nodule")}
    unused = {rel: _unused_reason(rel, layout) for rel in _nrrd_tree(root)
              if rel not in used}
    if not unused:
        return unused
    by_reason = {}
    for rel, reason in unused.items():
        by_reason.setdefault(reason, []).append(rel)
    parts = []
    for reason, files in by_reason.items():
        more = (f" and {len(files) - _SHOWN} more" if len(files) > _SHOWN
                else "")
        parts.append(f"{', '.join(files[:_SHOWN])}{more} ({reason})")
    warnings.warn(
        UnusedFilesWarning(
            f"Data set folder {os.fspath(root)!r} (layout {layout}): "
            f"{len(unused)} NRRD file(s) not read: {'; '.join(parts)}. To read "
            "them, move them where the layout reads pairs, or write a "
            "manifest.csv (skradnod make-manifest writes the inferred one).",
            unused,
        ),
        stacklevel=3,
    )
    return unused


def infer_manifest(root, *, labels="required"):
    """Infer the manifest of a folder of NRRD pairs that has no ``manifest.csv``.

    Parameters
    ----------
    root : str or os.PathLike
        The data set folder, in one of the layouts of
        :mod:`skradnod.io._layouts` (class folders ``1``-``5``, or ``full/`` and
        ``nodule/`` folders, or either with a ``labels.csv``).
    labels : {"required", "optional"}, default="required"
        With ``"optional"`` (data to predict on) a folder without class
        folders needs no ``labels.csv`` (layouts ``suffixes`` and
        ``full-nodule``), and a ``labels.csv`` needs no ``malignancy`` column;
        the manifest then has none. A ``labels.csv`` that is there must still
        list every pair.

    Returns
    -------
    manifest : DataFrame
        Columns ``id`` (the pair's name), ``full``, ``nodule`` (paths relative
        to ``root``), ``malignancy``, and ``patient_id`` and other columns of
        ``labels.csv`` when there is one; sorted by id.
        ``manifest.attrs["layout"]`` names the layout found;
        ``manifest.attrs["unused"]`` maps each NRRD file under ``root`` that
        no row uses (relative path) to the reason.

    Raises
    ------
    FileNotFoundError
        If ``root`` is not a folder, or holds no layout it recognises.
    ValueError
        Listing every unpaired file, file outside a class folder, unknown class
        folder and pair without a label (the first 10, and the count); or
        naming both layouts when two could read the folder.

    Warns
    -----
    UnusedFilesWarning
        Once, listing the NRRD files under ``root`` that no pair uses (in
        sub-folders the layout does not read, hidden files such as ``._*``,
        ``.nhdr`` headers) and why.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skradnod.io import write_nrrd
    >>> from skradnod.io._layouts import infer_manifest
    >>> root = tempfile.mkdtemp()
    >>> for name, label in [("a", 2), ("b", 5)]:
    ...     for kind in ("full", "nodule"):
    ...         write_nrrd(os.path.join(root, str(label), f"{name}_{kind}.nrrd"),
    ...                    np.zeros((4, 4), np.int16))
    >>> manifest = infer_manifest(root)
    >>> manifest.attrs["layout"], manifest["malignancy"].tolist()
    ('class-folders', [2, 5])
    >>> manifest["full"].tolist()
    ['2/a_full.nrrd', '5/b_full.nrrd']
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Data set folder not found: {os.fspath(root)!r}")
    problems = _Problems()
    layout, found = _detect(root, problems)
    if layout is None:
        raise FileNotFoundError(
            f"No manifest.csv in {os.fspath(root)!r}, and no known layout: "
            "expected <label>/<name>_full.nrrd + <label>/<name>_nodule.nrrd "
            "(class folders 1-5), full/<label>/<name>.nrrd + "
            "nodule/<label>/<name>.nrrd, or either without class folders plus "
            f"{LABELS_NAME} (name, malignancy, optional patient_id)."
        )
    labels_path = root / LABELS_NAME
    required = labels == "required"
    labels = (_read_labels(labels_path, problems, required)
              if labels_path.is_file() else None)
    if labels is None and "labels.csv" in layout and not required:
        layout = layout.removesuffix("+labels.csv")
    elif labels is None and "labels.csv" in layout:
        raise FileNotFoundError(
            f"Data set folder {os.fspath(root)!r} (layout {layout}) has no class "
            f"folders 1-5 and no {LABELS_NAME}: add {LABELS_NAME} with columns "
            "name, malignancy (and optionally patient_id), or a manifest.csv."
        )
    rows = _pair_rows(found, labels, problems)
    problems.raise_if_any(root, layout)
    if not rows:
        raise FileNotFoundError(
            f"Data set folder {os.fspath(root)!r} (layout {layout}) holds no NRRD "
            "pair."
        )
    manifest = pd.DataFrame(rows)
    manifest.attrs["layout"] = layout
    manifest.attrs["unused"] = _warn_unused(root, layout, rows)
    return manifest
