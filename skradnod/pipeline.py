"""A pipeline whose samplers resample the per-sample metadata with the rows.

imbalanced-learn's ``Pipeline`` lets a sampler drop rows at fit time, but the
fit parameters of later steps keep one entry per *original* row: a net given
``groups`` (patient ids, for its grouped validation split) after
``DuplicateRemover`` gets 30 ids for 27 images. imbalanced-learn does not
resample such metadata, ``sample_weight`` included (its issue #457 and pull
request #463 are open). :class:`Pipeline` does: after each sampler it indexes
every later step's per-sample parameter with the sampler's ``sample_indices_``.
A parameter is per-sample by scikit-learn's rule for cross-validation
(``sklearn.utils.validation._check_method_params``): array-like with one entry
per row of the data the sampler received.
"""

from imblearn import pipeline as imb_pipeline
from sklearn.base import clone
from sklearn.pipeline import _name_estimators
from sklearn.utils import _safe_indexing
from sklearn.utils._user_interface import _print_elapsed_time
from sklearn.utils.validation import _is_arraylike, _num_samples, check_memory

__all__ = ["Pipeline", "make_pipeline"]


class Pipeline(imb_pipeline.Pipeline):
    """imbalanced-learn's Pipeline, with metadata resampled by the samplers.

    Everything is as in :class:`imblearn.pipeline.Pipeline` (samplers act at
    fit time only), except that after each sampler the per-sample fit
    parameters of the later steps (``groups``, ``sample_weight``...) are
    indexed by its ``sample_indices_``, so they stay aligned with the rows.

    Parameters
    ----------
    steps : list of (str, estimator)
        Transformers and samplers, then a final estimator.
    transform_input : list of str, default=None
        See :class:`imblearn.pipeline.Pipeline`.
    memory : str or joblib.Memory, default=None
        Caches the fitted transformers and samplers.
    verbose : bool, default=False
        Print the time of each step.

    Attributes
    ----------
    named_steps : Bunch
        The steps by name.
    classes_ : ndarray of shape (n_classes,)
        The final classifier's labels.
    n_features_in_ : int
        Number of features of the first step's input, when it has one.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        The first step's input column names, when it has them.

    Raises
    ------
    ValueError
        In ``fit``, if a sampler that creates samples (no ``sample_indices_``,
        e.g. SMOTE) precedes a step given per-sample metadata.

    See Also
    --------
    make_pipeline : Build one with automatic step names.

    Examples
    --------
    >>> import numpy as np
    >>> from imblearn.under_sampling import RandomUnderSampler
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skradnod.pipeline import make_pipeline
    >>> X = np.arange(12.0).reshape(6, 2)
    >>> y = np.array([0, 0, 0, 0, 1, 1])
    >>> pipe = make_pipeline(RandomUnderSampler(random_state=0),
    ...                      LogisticRegression())
    >>> weight = np.arange(1.0, 7.0)
    >>> _ = pipe.fit(X, y, logisticregression__sample_weight=weight)
    >>> len(pipe[0].sample_indices_)  # 4 rows kept, and their 4 weights
    4
    """

    def _fit(self, X, y=None, routed_params=None, raw_params=None):
        # imbalanced-learn's loop (imblearn/pipeline.py, Pipeline._fit), plus
        # _resample_metadata after each sampler: it has no hook in between.
        self.steps = list(self.steps)
        self._validate_steps()
        memory = check_memory(self.memory)
        fit_transform_one_cached = memory.cache(imb_pipeline._fit_transform_one)
        fit_resample_one_cached = memory.cache(imb_pipeline._fit_resample_one)
        for step_idx, name, transformer in self._iter(
            with_final=False, filter_passthrough=False, filter_resample=False
        ):
            if transformer is None or transformer == "passthrough":
                with _print_elapsed_time("Pipeline", self._log_message(step_idx)):
                    continue
            if hasattr(memory, "location") and memory.location is None:
                cloned = transformer
            else:
                cloned = clone(transformer)
            step_params = self._get_metadata_for_step(
                step_idx=step_idx,
                step_params=routed_params[name],
                all_params=raw_params,
            )
            if hasattr(cloned, "transform") or hasattr(cloned, "fit_transform"):
                X, fitted = fit_transform_one_cached(
                    cloned, X, y, weight=None, message_clsname="Pipeline",
                    message=self._log_message(step_idx), params=step_params,
                )
            elif hasattr(cloned, "fit_resample"):
                n_before = _num_samples(X)
                X, y, fitted = fit_resample_one_cached(
                    cloned, X, y, message_clsname="Pipeline",
                    message=self._log_message(step_idx), params=routed_params[name],
                )
                later = [n for n, _ in self.steps[step_idx + 1:]]
                self._resample_metadata(fitted, name, n_before, routed_params, later)
            self.steps[step_idx] = (name, fitted)
        return X, y

    @staticmethod
    def _resample_metadata(sampler, sampler_name, n_before, routed_params, later):
        """Index the later steps' per-sample parameters by the kept rows."""
        indices = getattr(sampler, "sample_indices_", None)
        for name in later:
            if name not in routed_params:
                continue
            for params in routed_params[name].values():
                for key, value in params.items():
                    if not _is_arraylike(value) or _num_samples(value) != n_before:
                        continue
                    if indices is None:
                        raise ValueError(
                            f"Step {name!r} gets {key!r} with one entry per "
                            f"sample, but sampler {sampler_name!r} "
                            f"({type(sampler).__name__}) has no sample_indices_ "
                            "(it creates samples), so the entries cannot follow "
                            "the rows."
                        )
                    params[key] = _safe_indexing(value, indices)


def make_pipeline(*steps, memory=None, transform_input=None, verbose=False):
    """Build a :class:`Pipeline` whose step names are the lowercased class names.

    Parameters
    ----------
    *steps : list of estimators
        Transformers and samplers, then a final estimator.
    memory : str or joblib.Memory, default=None
        Caches the fitted transformers and samplers.
    transform_input : list of str, default=None
        See :class:`imblearn.pipeline.Pipeline`.
    verbose : bool, default=False
        Print the time of each step.

    Returns
    -------
    pipeline : Pipeline

    Examples
    --------
    >>> from imblearn.under_sampling import RandomUnderSampler
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skradnod.pipeline import make_pipeline
    >>> make_pipeline(RandomUnderSampler(), LogisticRegression()).steps[0][0]
    'randomundersampler'
    """
    return Pipeline(
        _name_estimators(steps),
        memory=memory,
        transform_input=transform_input,
        verbose=verbose,
    )
