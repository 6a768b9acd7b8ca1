"""A chain of image transformers that imbalanced-learn's Pipeline accepts."""

from sklearn.base import TransformerMixin, _fit_context
from sklearn.utils import Bunch, get_tags
from sklearn.utils.metaestimators import _BaseComposition

from ..base._batch import ImageStepMixin, check_image_batch

__all__ = ["ImageChain"]


class ImageChain(
    ImageStepMixin, TransformerMixin, _BaseComposition, auto_wrap_output_keys=None
):
    """Per-image transformers applied one after the other, as one step.

    A pipeline of image transformers that is itself not a scikit-learn
    ``Pipeline``: imbalanced-learn's ``Pipeline`` rejects a nested ``Pipeline``
    as an intermediate step (it could hide a sampler, whose rows the outer
    pipeline would not see dropped), so ``make_pipeline(DuplicateRemover(),
    <Pipeline>, net)`` fails. A chain holds only per-image transformers (none
    drops rows) and is accepted anywhere a transformer is. Steps are named,
    so their parameters are reachable as ``<step>__<param>`` in
    ``get_params``, ``set_params`` and grid searches, as in a ``Pipeline``;
    as there, a step set to ``"passthrough"`` or None is skipped, so a grid
    search can turn a step off (``imagechain__clahe="passthrough"`` inside
    ``make_pipeline(make_ct_preprocessor(), net)``).

    Parameters
    ----------
    steps : list of (str, transformer, "passthrough" or None)
        Image transformers (those whose tags say they take 3D image batches),
        such as :class:`~skradnod.preprocessing.Resize`,
        :class:`~skradnod.preprocessing.HUWindow`,
        :class:`~skradnod.preprocessing.CLAHE`,
        :class:`~skradnod.preprocessing.BilateralFilter`,
        :class:`~skradnod.preprocessing.CenterCrop` or
        :class:`skradnod.io.NrrdLoader`, in order. A step that is
        ``"passthrough"`` or None is skipped.

    Attributes
    ----------
    named_steps : Bunch
        The steps by name.

    See Also
    --------
    skradnod.preprocessing.make_ct_preprocessor : The method's chain.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.preprocessing import HUWindow, ImageChain, Resize
    >>> chain = ImageChain([("resize", Resize((4, 4))), ("huwindow", HUWindow())])
    >>> chain.set_params(huwindow__max_hu=0).fit_transform([np.zeros((8, 8))]).max()
    np.float32(1.0)
    >>> chain.set_params(huwindow="passthrough").fit_transform([np.zeros((8, 8))]).max()
    np.float32(0.0)
    """

    _parameter_constraints = {"steps": [list]}

    def __init__(self, steps):
        self.steps = steps

    def get_params(self, deep=True):
        """Parameters of the chain and, if ``deep``, of its steps.

        Parameters
        ----------
        deep : bool, default=True
            Include ``<step>`` and ``<step>__<param>`` entries.

        Returns
        -------
        params : dict
        """
        return self._get_params("steps", deep=deep)

    def set_params(self, **params):
        """Set ``steps``, a whole step, or a step's parameter (``clahe__clip_limit``).

        Parameters
        ----------
        **params : dict
            Parameters.

        Returns
        -------
        self : ImageChain
        """
        self._set_params("steps", **params)
        return self

    @property
    def named_steps(self):
        """The steps by name (a :class:`~sklearn.utils.Bunch`)."""
        return Bunch(**dict(self.steps))

    def __len__(self):
        return len(self.steps)

    def __getitem__(self, index):
        if isinstance(index, str):
            return self.named_steps[index]
        return self.steps[index][1]

    def _active_steps(self):
        """The steps that run: all but those set to ``"passthrough"`` / None."""
        return [
            (name, step) for name, step in self.steps
            if step is not None and not isinstance(step, str)
        ]

    def _check_steps(self):
        self._validate_names([name for name, _ in self.steps])
        for name, step in self.steps:
            if isinstance(step, str) and step != "passthrough":
                raise TypeError(
                    f"ImageChain step {name!r} is the string {step!r}; a step is "
                    "an image transformer, 'passthrough' or None."
                )
        for name, step in self._active_steps():
            # An image step by its tags: it takes image batches, and it is a
            # transformer, not a sampler (a chain never drops rows).
            if (
                not hasattr(step, "transform")
                or hasattr(step, "fit_resample")
                or not get_tags(step).input_tags.three_d_array
            ):
                raise TypeError(
                    f"ImageChain step {name!r} is {type(step).__name__}, not an "
                    "image transformer (such as those of skradnod.preprocessing "
                    "or NrrdLoader); use a Pipeline for other steps."
                )

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Check every step's parameters and the form of ``X``.

        The steps learn nothing from the data; each is fitted (validated) on
        the checked batch.

        Parameters
        ----------
        X : image batch
            3D array, sequence of 2D arrays or of NRRD paths, or a lazy batch.
        y : None
            Ignored.

        Returns
        -------
        self : ImageChain
        """
        self._check_steps()
        X = check_image_batch(X, allow_lazy=True)
        for _, step in self._active_steps():
            step.fit(X)
        return self

    @_fit_context(prefer_skip_nested_validation=False)
    def fit_transform(self, X, y=None):
        """Fit each step on the previous step's output and return the last one's.

        As a ``Pipeline`` does: each step reads and checks its input once, and
        a lazy loader first in the chain reads nothing.

        Parameters
        ----------
        X : image batch
            3D array, sequence of 2D arrays or of NRRD paths, or a lazy batch.
        y : None
            Ignored.

        Returns
        -------
        X_out : ndarray of shape (n, H, W) or (n,) of dtype object, or \
                LazyImageBatch
            float32 images; a lazy batch gets the steps appended instead.
        """
        self._check_steps()
        steps = self._active_steps()
        if not steps:  # as fit then transform: X checked, returned as is
            check_image_batch(X, allow_lazy=True)
            return X
        for _, step in steps:
            X = step.fit_transform(X)
        return X

    def transform(self, X):
        """Apply the steps in order.

        Parameters
        ----------
        X : image batch
            3D array, sequence of 2D arrays or of NRRD paths, or a lazy batch.

        Returns
        -------
        X_out : ndarray of shape (n, H, W) or (n,) of dtype object, or \
                LazyImageBatch
            float32 images; a lazy batch gets the steps appended instead.
        """
        self._check_steps()
        for _, step in self._active_steps():
            X = step.transform(X)
        return X

    def set_output(self, *, transform=None):
        """Forward ``set_output`` to the steps; the output stays an image batch.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"} or None, default=None
            Passed to every step (which keep returning arrays).

        Returns
        -------
        self : ImageChain
        """
        for _, step in self._active_steps():
            step.set_output(transform=transform)
        return self
