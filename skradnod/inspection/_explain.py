"""Write the explanations of a fitted model's predictions into a folder."""

import csv
import io
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import check_is_fitted

from ..base._atomic import atomic_write
from ._gradcam import GradCAMDisplay, _n_samples, _plain, grad_cam
from ._importance_display import FeatureImportanceDisplay

__all__ = ["explain_predictions"]

INDEX_NAME = "explanations.csv"
IMPORTANCE_PNG = "feature_importance.png"
IMPORTANCE_CSV = "feature_importance.csv"
_CHUNK = 64  # samples per Grad-CAM pass: bounds memory on full slices


def _final_step(model):
    """The estimator that predicts at the end of pipelines / a located model."""
    from ..models import LocatedNoduleClassifier

    while True:
        if hasattr(model, "steps"):
            model = model.steps[-1][1]
        elif isinstance(model, LocatedNoduleClassifier):
            model = getattr(model, "classifier_", model.classifier)
        else:
            return model


def _resolve_kind(model, kind):
    if kind not in ("auto", "gradcam", "importance"):
        raise ValueError(
            f"explain_predictions: kind must be 'auto', 'gradcam' or 'importance'; "
            f"got {kind!r}."
        )
    if kind != "auto":
        return kind
    # An image net has convolutions; a net of feature tables
    # (FeatureNetClassifier) is explained like the other radiomic models.
    module = getattr(_final_step(model), "module_", None)
    convolutional = module is not None and any(
        isinstance(child, torch.nn.Conv2d) for child in module.modules()
    )
    return "gradcam" if convolutional else "importance"


def _check_ids(ids, n):
    if ids is None:
        return [str(i) for i in range(n)]
    ids = [str(i) for i in (ids.tolist() if hasattr(ids, "tolist") else ids)]
    if len(ids) != n:
        raise ValueError(
            f"explain_predictions: ids has {len(ids)} entries but X has {n} samples."
        )
    seen, twice = set(), []
    for i in ids:
        if i in seen:
            twice.append(i)
        seen.add(i)
    if twice:
        raise ValueError(
            f"explain_predictions: ids must be unique; {sorted(set(twice))[:5]} "
            "occur more than once."
        )
    return ids


def _file_names(ids, prefix):
    """One safe, unique PNG name per id, inside the output folder.

    An id is text as the user wrote it (``../x``, ``a/b``, spaces): only
    letters, digits, ``.``, ``_`` and ``-`` are kept, a leading dot is
    replaced, and a name taken already (ids differing only in replaced
    characters or in case, which some file systems do not tell apart) gets
    the sample's position appended.
    """
    names, taken = [], set()
    for position, sample_id in enumerate(ids):
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", sample_id)[:100] or "_"
        if stem.startswith("."):
            stem = "_" + stem[1:]
        name = f"{prefix}{stem}.png"
        while name.lower() in taken:  # a renamed one may clash again
            stem = f"{stem}-{position}"
            name = f"{prefix}{stem}.png"
        taken.add(name.lower())
        names.append(name)
    return names


def _save_png(figure, path):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    with atomic_write(path, "wb") as fh:
        fh.write(buffer.getvalue())


def _write_csv(frame, path):
    with atomic_write(path, "w", newline="") as fh:
        frame.to_csv(fh, index=False, quoting=csv.QUOTE_MINIMAL)


def _sample_display(cam, k):
    """The :class:`GradCAMDisplay` of sample ``k`` of a :func:`grad_cam` result."""
    column = int(np.flatnonzero(cam.classes == cam.predicted[k])[0])
    return GradCAMDisplay(
        cam.heatmaps[k], cam.images[k], predicted=_plain(cam.predicted[k]),
        proba=float(cam.proba[k, column]), target=_plain(cam.target[k]),
        layer=cam.layer,
    )


def _gradcam_rows(model, X, ids, out_dir, layer, target):
    names = _file_names(ids, "gradcam_")
    rows = []
    for start in range(0, len(ids), _CHUNK):
        chunk = list(range(start, min(start + _CHUNK, len(ids))))
        cam = grad_cam(model, _safe_indexing(X, chunk), layer=layer, target=target)
        for k, i in enumerate(chunk):
            display = _sample_display(cam, k)
            lines = [ids[i], *display._title_lines()]
            display.plot(title="\n".join(line for line in lines if line))
            _save_png(display.figure_, out_dir / names[i])
            rows.append((ids[i], display.predicted, display.proba, names[i]))
    return rows


def _importance_rows(model, X, y, groups, ids, out_dir, importance):
    if y is None:
        raise ValueError(
            "explain_predictions: a model without an image net is explained by "
            "feature importance, which needs the labels y of X (and groups, the "
            "patient ids): it is measured on patient-grouped held-out folds. "
            "Pass y= and groups=, or kind='gradcam' for an image net."
        )
    check_is_fitted(model)
    proba = np.asarray(model.predict_proba(X), dtype=float)
    classes = np.asarray(model.classes_)
    display = FeatureImportanceDisplay.from_estimator(
        model, X, y, groups=groups, **(importance or {})
    )
    _save_png(display.figure_, out_dir / IMPORTANCE_PNG)
    table = pd.DataFrame({
        "group": [str(name) for name in display.feature_names],
        "importance_mean": display.importances_mean,
        "importance_std": display.importances_std,
        "features": [" ".join(display.groups[str(name)])
                     for name in display.feature_names],
    }).sort_values("importance_mean", ascending=False, kind="stable")
    _write_csv(table, out_dir / IMPORTANCE_CSV)
    best = proba.argmax(axis=1)
    return [
        (sample_id, _plain(classes[best[i]]), float(proba[i, best[i]]), IMPORTANCE_PNG)
        for i, sample_id in enumerate(ids)
    ]


def explain_predictions(
    model,
    X,
    *,
    out_dir,
    ids=None,
    kind="auto",
    layer=None,
    target="predicted",
    y=None,
    groups=None,
    importance=None,
):
    """Write an explanation of each prediction of a fitted model into a folder.

    An image net (a skradnod net, a pipeline or
    :class:`~skradnod.models.LocatedNoduleClassifier` ending in one) gets one
    Grad-CAM picture per sample, ``gradcam_<id>.png``
    (:class:`GradCAMDisplay`). A radiomic model gets one picture for all
    samples, ``feature_importance.png`` with its numbers in
    ``feature_importance.csv`` (:class:`FeatureImportanceDisplay`): a
    permutation importance is a property of the model on a data set, not of
    one sample, and needs the labels ``y`` and patient ``groups`` of ``X``.
    Either way ``explanations.csv`` lists one row per sample: ``id``,
    ``predicted``, ``probability`` (of the predicted class) and ``file`` (the
    picture, relative to ``out_dir``). Every file is written atomically; files
    of an earlier call with other ids are left as they are.

    Parameters
    ----------
    model : estimator
        A fitted classifier.
    X : image batch or DataFrame
        Input of ``model.predict``.
    out_dir : str or path-like
        Folder of the pictures and the index, created if missing.
    ids : array-like of str, default=None
        One unique id per sample (e.g. the manifest's ``id`` column), written
        as given into the index; file names keep only their safe characters.
        Default: the positions ``0, 1, ...``.
    kind : {"auto", "gradcam", "importance"}, default="auto"
        "auto": Grad-CAM when the model ends in a convolutional torch net,
        else importance.
    layer : str, torch.nn.Module or None, default=None
        Grad-CAM's layer (see :func:`grad_cam`).
    target : "predicted" or label, default="predicted"
        The class Grad-CAM explains.
    y : array-like of shape (n_samples,), default=None
        Labels of ``X``; needed by the importance.
    groups : array-like of shape (n_samples,), default=None
        Patient ids of ``X``, for the importance's folds.
    importance : dict, default=None
        Further keywords of :meth:`FeatureImportanceDisplay.from_estimator`
        (``cv``, ``grouping``, ``n_repeats``, ``scoring``, ``random_state``,
        ``top_k``).

    Returns
    -------
    index : pandas.DataFrame
        The rows written to ``explanations.csv``.

    Raises
    ------
    ValueError
        If ``ids`` are not one unique id per sample, ``kind`` is unknown, the
        importance is asked for without ``y``, and as :func:`grad_cam`.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from skradnod.inspection import explain_predictions
    >>> from skradnod.models import NoduleCNNClassifier
    >>> X = np.random.RandomState(0).rand(8, 16, 16).astype(np.float32)
    >>> clf = NoduleCNNClassifier(module__width=4, max_epochs=1, valid_size=None,
    ...                           random_state=0).fit(X, [0, 1] * 4)
    >>> out = tempfile.mkdtemp()
    >>> index = explain_predictions(clf, X[:2], ids=["p1/a", "p2"], out_dir=out)
    >>> index["file"].tolist()
    ['gradcam_p1_a.png', 'gradcam_p2.png']
    """
    kind = _resolve_kind(model, kind)
    ids = _check_ids(ids, _n_samples(X))
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(
            f"explain_predictions: out_dir {os.fspath(out_dir)!r} is a file, not a "
            "folder."
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    if kind == "gradcam":
        rows = _gradcam_rows(model, X, ids, out_dir, layer, target)
    else:
        rows = _importance_rows(model, X, y, groups, ids, out_dir, importance)
    index = pd.DataFrame(rows, columns=["id", "predicted", "probability", "file"])
    _write_csv(index, out_dir / INDEX_NAME)
    return index
