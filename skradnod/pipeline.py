"""An imbalanced-learn pipeline whose samplers also drop rows from metadata.

imbalanced-learn's :class:`~imblearn.pipeline.Pipeline` runs samplers (steps
that drop training rows, such as
:class:`~skradnod.feature_selection.SparseRowDropper` or
:class:`~skradnod.cleaning.DuplicateRemover`) during ``fit``, but passes routed
metadata on unchanged, so the patient ids a later step receives no longer match
its rows. :class:`Pipeline` keeps them aligned: a step after a sampler gets
``groups`` (and ``sample_weight``) of the rows the samplers kept. Everything
else is imbalanced-learn's.

:func:`make_pipeline` also splices a nested pipeline given as an intermediate
step: its steps become steps of the outer pipeline, so a selection chain that
holds a sampler (:func:`~skradnod.feature_selection.make_radiomics_selector`)
composes mid-chain, which imbalanced-learn refuses ("All intermediate steps of
the chain should not be Pipelines").
"""

from collections import defaultdict

import numpy as np
from imblearn.pipeline import Pipeline as _ImblearnPipeline
from sklearn.pipeline import Pipeline as SklearnPipeline
from sklearn.utils import Bunch, _safe_indexing

__all__ = ["Pipeline", "make_pipeline"]

SAMPLE_ALIGNED = ("groups", "sample_weight")
"""Routed fit parameters with one entry per sample, dropped with the rows."""


_METADATA_CANNOT_FOLLOW = "routed metadata such as groups cannot follow its rows"


def kept_rows(steps, *, consequence=_METADATA_CANNOT_FOLLOW):
    """Rows of the input that the fitted samplers among ``steps`` kept.

    Samplers inside a nested pipeline step count too.

    Parameters
    ----------
    steps : list of (str, estimator)
        Fitted pipeline steps.
    consequence : str
        What a sampler without ``sample_indices_`` prevents, for the error.

    Returns
    -------
    rows : ndarray of int or None
        Indices into the pipeline's input, in order; None when no sampler
        dropped anything.

    Raises
    ------
    ValueError
        If a sampler has no ``sample_indices_`` (it creates samples, so no
        metadata can follow its rows).
    """
    rows = None
    for name, step in steps:
        if isinstance(step, SklearnPipeline):  # imblearn's Pipeline subclasses it
            indices = kept_rows(step.steps, consequence=consequence)
        elif step is None or isinstance(step, str) or not hasattr(step, "fit_resample"):
            continue
        else:
            indices = getattr(step, "sample_indices_", None)
            if indices is None:
                raise ValueError(
                    f"Sampler step {name!r} ({type(step).__name__}) has no "
                    f"sample_indices_: it creates samples, so {consequence}."
                )
        if indices is not None:
            indices = np.asarray(indices)
            rows = indices if rows is None else rows[indices]
    return rows


class Pipeline(_ImblearnPipeline):
    """imbalanced-learn's Pipeline, with routed metadata following the samplers.

    Under scikit-learn's metadata routing a step after a sampler receives the
    ``groups`` / ``sample_weight`` entries of the rows the samplers kept, so
    that, e.g., RFECV's patient-grouped CV after
    :class:`~skradnod.feature_selection.SparseRowDropper` splits the right
    patients. Parameters, attributes and methods are those of
    :class:`imblearn.pipeline.Pipeline`.

    Examples
    --------
    >>> import numpy as np, sklearn
    >>> from skradnod.feature_selection import SparseRowDropper
    >>> from skradnod.model_selection import PatientStratifiedKFold
    >>> from skradnod.pipeline import make_pipeline
    >>> from sklearn.feature_selection import RFECV
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.random.RandomState(0).rand(24, 3)
    >>> X[0] = np.nan  # one row the sampler drops
    >>> y, groups = np.arange(24) % 2, np.arange(24) // 2
    >>> pipe = make_pipeline(SparseRowDropper(),
    ...                      RFECV(LogisticRegression(), cv=PatientStratifiedKFold(3)))
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     pipe = pipe.fit(X, y, groups=groups)
    >>> pipe[-1].n_features_in_
    3
    """

    def _get_metadata_for_step(self, *, step_idx, step_params, all_params):
        step_params = super()._get_metadata_for_step(
            step_idx=step_idx, step_params=step_params, all_params=all_params
        )
        if not step_params or not any(step_params.values()):
            return step_params
        # The steps before step_idx are the ones fitted in this call.
        rows = kept_rows(self.steps[:step_idx])
        if rows is None:
            return step_params
        return Bunch(
            **{
                method: Bunch(
                    **{
                        key: (
                            _safe_indexing(value, rows)
                            if key in SAMPLE_ALIGNED and value is not None
                            else value
                        )
                        for key, value in params.items()
                    }
                )
                for method, params in step_params.items()
            }
        )


    def _validate_steps(self):
        # imbalanced-learn refuses a nested pipeline as an intermediate step
        # (its samplers would drop rows the outer pipeline does not see
        # dropped); say how to compose it instead.
        for name, step in self.steps[:-1]:
            if isinstance(step, SklearnPipeline):
                raise TypeError(
                    f"Pipeline step {name!r} is itself a Pipeline, which "
                    "cannot be an intermediate step (its samplers would drop "
                    "rows the outer pipeline does not see). Build the pipeline "
                    "with skradnod.pipeline.make_pipeline, which splices a "
                    "nested pipeline's steps in under their own names, or pass "
                    f"its steps in place: Pipeline([..., *{name}.steps, ...])."
                )
        return super()._validate_steps()


def _unique_names(names):
    """Suffix ``-1``, ``-2``, ... to every repeated name, in order.

    The rule of :func:`sklearn.pipeline.make_pipeline` for repeated class
    names, applied here to names that spliced steps bring with them (sklearn's
    helper derives names from classes only, so it cannot be reused).
    """
    count = defaultdict(int)
    for name in names:
        count[name] += 1
    seen = defaultdict(int)
    out = []
    for name in names:
        if count[name] > 1:
            seen[name] += 1
            name = f"{name}-{seen[name]}"
        out.append(name)
    return out


def _spliced(pipeline, position):
    """The ``(name, step)`` pairs a nested pipeline brings, its own nested ones too."""
    given = {
        "memory": pipeline.memory,
        "transform_input": getattr(pipeline, "transform_input", None),
        "verbose": pipeline.verbose,
    }
    kept = [f"{key}={value!r}" for key, value in given.items() if value]
    if kept:
        raise ValueError(
            f"Step {position} of make_pipeline is a Pipeline with "
            f"{', '.join(kept)}; its steps are spliced into the outer pipeline, "
            "where that setting would be lost. Set it on the outer pipeline "
            "(make_pipeline(..., memory=...)) instead."
        )
    pairs = []
    for name, step in pipeline.steps:
        if isinstance(step, SklearnPipeline):
            pairs.extend(_spliced(step, f"{position} ({name!r})"))
        else:
            pairs.append((name, step))
    return pairs


def make_pipeline(*steps, memory=None, transform_input=None, verbose=False):
    """Construct a :class:`Pipeline` from the given estimators (names generated).

    A step is named after its class in lower case, as by
    :func:`imblearn.pipeline.make_pipeline`. A pipeline given as an
    intermediate step (any but the last) is spliced in: its steps become
    steps of the result under their own names (recursively), so its
    samplers drop rows the whole pipeline sees dropped. A name that then
    occurs more than once gets ``-1``, ``-2``, ... in order, as repeated
    class names do. A pipeline given as the last step stays one step (named
    ``"pipeline"``), as imbalanced-learn builds it, so every pipeline that
    imbalanced-learn's ``make_pipeline`` accepts gets the same names here.

    Parameters
    ----------
    *steps : list of estimators
        Transformers, samplers, pipelines and a final estimator.
    memory : str, joblib.Memory or None, default=None
        Caching of the fitted transformers.
    transform_input : list of str or None, default=None
        Metadata to transform with the preceding steps (scikit-learn's meaning).
    verbose : bool, default=False
        Print the time of each step.

    Returns
    -------
    pipeline : Pipeline

    Raises
    ------
    ValueError
        If a pipeline to splice sets ``memory``, ``transform_input`` or
        ``verbose`` (lost once its steps are spliced).

    Examples
    --------
    >>> from sklearn.preprocessing import MinMaxScaler, StandardScaler
    >>> from sklearn.svm import SVC
    >>> from skradnod.pipeline import make_pipeline
    >>> inner = make_pipeline(StandardScaler(), MinMaxScaler())
    >>> pipe = make_pipeline(StandardScaler(), inner, SVC())
    >>> [name for name, _ in pipe.steps]
    ['standardscaler-1', 'standardscaler-2', 'minmaxscaler', 'svc']
    >>> pipe.set_params(minmaxscaler__clip=True)[2] is inner[1]
    True
    """
    pairs = []
    for position, step in enumerate(steps):
        if isinstance(step, SklearnPipeline) and position < len(steps) - 1:
            pairs.extend(_spliced(step, position))
        else:
            pairs.append((_class_name(step), step))
    names = _unique_names([name for name, _ in pairs])
    return Pipeline(
        list(zip(names, [step for _, step in pairs])),
        memory=memory,
        transform_input=transform_input,
        verbose=verbose,
    )


def _class_name(step):
    # make_pipeline's naming: a string step ("passthrough") is its own name.
    return step if isinstance(step, str) else type(step).__name__.lower()
