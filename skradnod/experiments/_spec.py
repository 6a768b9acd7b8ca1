"""The :class:`Experiment` record of one table row."""

from dataclasses import dataclass, field
from inspect import signature

from ._presets import _preset, _preset_name

__all__ = ["Experiment", "ExperimentUnavailable"]


class ExperimentUnavailable(RuntimeError):
    """A row cannot run here (missing dependency, weights file or data column)."""


@dataclass(frozen=True)
class Experiment:
    """One row of a result table.

    Parameters
    ----------
    table : {"nodule", "full"}
        The table it belongs to (Table 3 and Table 2 of the method).
    name : str
        Row name, unique within its table.
    title : str
        Display name in ``results.md``.
    input : {"nodule", "nodule+spacing", "full", "frame", "ratings", "none"}
        What the estimator reads: the nodule crops, the crops beside their
        pixel spacing (a frame of columns ``nodule`` and ``nodule_spacing``,
        for the radiomics), the full slices, the data frame (columns ``full``,
        ``nodule``, ``nodule_spacing``), the rating columns, or nothing (the
        majority baseline).
    description : str
        One sentence for the report.
    factory : callable
        ``factory(settings, *, task, device, random_state, **params)`` returning
        ``(estimator, used)``: a fresh unfitted estimator and a dict of the sizes
        it used. ``settings`` is a :data:`PRESETS` entry; ``params`` are the
        row's own options (``backbone``, ``weights``).
    baseline : bool, default=False
        Baselines are computed once and shown in every table.
    sample_outputs : tuple of str, default=()
        Methods of the fitted model giving one number per held-out sample,
        pooled out of fold (``cross_validate_report``'s ``sample_outputs``):
        ``("center_error",)`` reports a located row's centre error.

    Examples
    --------
    >>> from skradnod.experiments import get_experiment
    >>> spec = get_experiment("nodule/majority")
    >>> estimator, used = spec.build(preset="quick")
    >>> type(estimator).__name__, spec.input
    ('DummyClassifier', 'none')
    """

    table: str
    name: str
    title: str
    input: str
    description: str
    factory: object = field(repr=False)
    baseline: bool = False
    sample_outputs: tuple = ()

    @property
    def key(self):
        """``"table/name"``, the row's id."""
        return f"{self.table}/{self.name}"

    def build(
        self, *, preset="demo", task="5class", device="cpu", random_state=0, **params
    ):
        """Return a fresh ``(estimator, used)`` pair for ``preset`` and ``task``.

        ``used`` starts with the preset's name (``"custom"`` for a dict).

        Raises
        ------
        ExperimentUnavailable
            If a dependency or file the row needs is missing.
        """
        settings = _preset(preset)
        if "memory" in params and "memory" not in signature(self.factory).parameters:
            # A cache of image-only work (radiomics); rows without it ignore it.
            params.pop("memory")
        try:
            estimator, used = self.factory(
                settings,
                task=task,
                device=device,
                random_state=random_state,
                **params,
            )
        except ImportError as exc:
            name = getattr(exc, "name", None) or ""
            ours = name == "skradnod" or name.startswith("skradnod.")
            if isinstance(exc, ModuleNotFoundError) and not ours:
                reason = f"{name} is not installed ({exc})"
            else:
                reason = f"a part of skradnod it needs is missing ({exc})"
            raise ExperimentUnavailable(reason) from exc
        return estimator, {"preset": _preset_name(preset), **used}


def _check_params(row, params, allowed):
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(
            f"Row {row!r} takes no parameter(s) {unknown}; it takes "
            f"{sorted(allowed) or 'none'}."
        )
