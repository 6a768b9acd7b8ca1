"""The registry of rows: :data:`EXPERIMENTS`, lookup and row selection."""

from ._rows import (
    _autoencoder,
    _basic_cnn,
    _center_regression,
    _features,
    _features_images,
    _located_cnn,
    _majority,
    _semantic_oracle,
    _transfer,
)
from ._spec import Experiment

__all__ = ["EXPERIMENTS", "get_experiment", "resolve_rows"]


def _registry():
    """Every row by key, in report order: baselines, Table 3, Table 2."""
    rows = [*_baseline_rows(), *_nodule_rows(), *_full_rows()]
    return {row.key: row for row in rows}


def _baseline_rows():
    """The two baselines, once in each table."""
    rows = []
    for table in ("nodule", "full"):
        rows += [
            Experiment(
                table,
                "majority",
                "Majority class",
                "none",
                "Baseline: always predicts the most frequent training class.",
                _majority,
                baseline=True,
            ),
            Experiment(
                table,
                "semantic_oracle",
                "Semantic-rating oracle",
                "ratings",
                "Baseline: random forest on the radiologists' eight other ratings "
                "and the contour diameter (reads their answers; an upper "
                "reference, not a usable model).",
                _semantic_oracle,
                baseline=True,
            ),
        ]
    return rows


def _nodule_rows():
    """The method's Table 3: models of the nodule crops."""
    return [
        Experiment(
            "nodule",
            "basic_cnn",
            "Basic CNN",
            "nodule",
            "CT preprocessing (crops resized) + residual CNN with squeeze-and-"
            "excitation (NoduleCNNClassifier).",
            _basic_cnn("nodule"),
        ),
        Experiment(
            "nodule",
            "features",
            "Features",
            "nodule+spacing",
            "pyradiomics features + the method's selection chain + the best of "
            "SVM / random forest / NN chosen by inner CV.",
            _features,
        ),
        Experiment(
            "nodule",
            "features_images",
            "Features + images",
            "frame",
            "FusionClassifier: image branch (preprocessed crop) and radiomics "
            "branch (selected features) joined in FusionNet.",
            _features_images,
        ),
    ]


def _full_rows():
    """The method's Table 2: models of the full slices."""
    return [
        Experiment(
            "full",
            "basic_cnn",
            "Basic CNN",
            "full",
            "CT preprocessing (slices resized) + the residual SE CNN.",
            _basic_cnn("full"),
        ),
        Experiment(
            "full",
            "autoencoder",
            "Autoencoders",
            "full",
            "Convolutional autoencoder latent space + logistic regression "
            "(unweighted, C chosen by log-loss on a patient-grouped split).",
            _autoencoder,
        ),
        Experiment(
            "full",
            "center_regression",
            "Center regression",
            "frame",
            "Multi-task net: malignancy head + nodule-centre regression head "
            "(centres from template matching), dynamic loss weighting.",
            _center_regression,
        ),
        Experiment(
            "full",
            "located_cnn",
            "Located CNN",
            "frame",
            "Beyond the method: a heat-map net finds the nodule in the slice "
            "(trained on template-matched centres), a 64 px crop of the "
            "full-resolution slice around it goes to the basic CNN "
            "(LocatedNoduleClassifier).",
            _located_cnn,
            sample_outputs=("center_error",),
        ),
        Experiment(
            "full",
            "transfer_imagenet",
            "TL ImageNet",
            "full",
            "Transfer learning from ImageNet weights (a local file).",
            _transfer("imagenet"),
        ),
        Experiment(
            "full",
            "transfer_radimagenet",
            "TL RadImageNet",
            "full",
            "Transfer learning from RadImageNet weights (a local file).",
            _transfer("radimagenet"),
        ),
    ]


EXPERIMENTS = _registry()
"""All rows, by key ``"table/name"`` (e.g. ``"nodule/features"``)."""


def get_experiment(key):
    """Return the :class:`Experiment` registered under ``"table/name"``.

    Raises
    ------
    KeyError
        For an unknown key, listing the known ones.
    """
    try:
        return EXPERIMENTS[key]
    except KeyError:
        raise KeyError(
            f"Unknown experiment row {key!r}; known rows: {', '.join(EXPERIMENTS)}."
        ) from None


def resolve_rows(rows=None):
    """Expand row selectors into registered keys, in registry order.

    Parameters
    ----------
    rows : str, list of str or None, default=None
        Each entry is a key (``"nodule/basic_cnn"``), a row name matching every
        table that has it (``"basic_cnn"``), a table (``"nodule"``, ``"full"``)
        or ``"all"``. None means all rows.

    Returns
    -------
    keys : list of str

    Raises
    ------
    ValueError
        If an entry matches no row; the message names it and the known rows.

    Examples
    --------
    >>> from skradnod.experiments import resolve_rows
    >>> resolve_rows(["basic_cnn"])
    ['nodule/basic_cnn', 'full/basic_cnn']
    """
    if rows is None:
        return list(EXPERIMENTS)
    if isinstance(rows, str):
        rows = [rows]
    selected = set()
    for entry in rows:
        matches = [
            key
            for key, spec in EXPERIMENTS.items()
            if entry in (key, spec.name, spec.table, "all")
        ]
        if not matches:
            names = sorted({spec.name for spec in EXPERIMENTS.values()})
            raise ValueError(
                f"Unknown experiment row {entry!r}; choose from rows "
                f"{', '.join(names)}, keys such as 'nodule/basic_cnn', tables "
                "'nodule'/'full', or 'all'."
            )
        selected.update(matches)
    return [key for key in EXPERIMENTS if key in selected]
