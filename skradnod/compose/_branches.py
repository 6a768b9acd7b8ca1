"""The branches of :class:`~skradnod.compose.FusionClassifier`, as a mixin.

A fusion classifier holds ``(name, transformer, columns)`` branches the way
:class:`~sklearn.compose.ColumnTransformer` does. :class:`BranchesMixin` gives
it what ColumnTransformer has for them: nested ``get_params`` /
``set_params`` (``features__rfecv__step``), ``set_output``, validation of the
branch list, column selection by name or position, and the fit of the
branches, which drops the rows their samplers drop from every branch, ``y``
and ``groups`` alike.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.utils import Bunch, _safe_indexing
from sklearn.utils._set_output import _safe_set_output
from sklearn.utils.validation import _num_samples, column_or_1d
from skorch.helper import SliceDict

from ..base import LazyImageBatch, check_image_batch
from ..models._data import num_samples
from ..pipeline import kept_rows

__all__ = ["BranchesMixin"]

# Names a branch may not take: they are skorch's parameter prefixes, and a
# branch's name is also the prefix of its parameters (``features__rfecv__step``).
_RESERVED = {
    "module",
    "criterion",
    "optimizer",
    "iterator_train",
    "iterator_valid",
    "callbacks",
    "dataset",
    "compile",
    "transformers",
}


def _as_net_input(output, name):
    """A branch output as the net's input: float32 array or lazy image batch."""
    if isinstance(output, LazyImageBatch):
        return output
    if hasattr(output, "iloc") and getattr(output, "ndim", 2) == 2:
        output = output.to_numpy(dtype=np.float32)
    if isinstance(output, np.ndarray) and output.dtype != object:
        if output.ndim == 1:
            output = output[:, np.newaxis]
        output = np.asarray(output, dtype=np.float32)
        if not np.isfinite(output).all():
            raise ValueError(
                f"Output of branch {name!r} contains NaN or infinity; the net "
                "needs finite inputs (impute in the branch, e.g. KNNImputer)."
            )
        return output
    # A Series / list / object array of images.
    images = check_image_batch(output, name=f"Output of branch {name!r}")
    if isinstance(images, list):
        shapes = {image.shape for image in images}
        if len(shapes) != 1:
            raise ValueError(
                f"Branch {name!r} gives images of different sizes {sorted(shapes)}; "
                "end the branch with a Resize step so they form one batch."
            )
        images = np.stack(images)
    return np.asarray(images, dtype=np.float32)


def _take_rows(data, rows):
    if hasattr(data, "iloc"):
        return data.iloc[rows]
    if isinstance(data, (np.ndarray, LazyImageBatch)):
        return data[rows]
    return [data[i] for i in rows]


class BranchesMixin:
    """ColumnTransformer-like branches for a net (see the module docstring).

    Mix it in left of :class:`~skradnod.models.BaseNetClassifier`; the class
    has a ``transformers`` parameter and sets ``transformers_``.
    """

    # ------------------------------------------------------------------ #
    # nested parameters (like sklearn's _BaseComposition)
    # ------------------------------------------------------------------ #
    def _branch_names(self):
        try:
            return [name for name, _, _ in self.transformers]
        except (TypeError, ValueError):
            return []

    def get_params(self, deep=True, **kwargs):
        """Parameters of the net, the branches and the branches' steps.

        Parameters
        ----------
        deep : bool, default=True
            If True, include ``<branch>`` and ``<branch>__<param>`` entries.
        **kwargs : dict
            Passed to skorch's ``get_params``.

        Returns
        -------
        params : dict
        """
        params = super().get_params(deep=deep, **kwargs)
        if not deep:
            return params
        for name in self._branch_names():
            transformer = self._branch(name)
            params[name] = transformer
            if hasattr(transformer, "get_params"):
                for key, value in transformer.get_params(deep=True).items():
                    params[f"{name}__{key}"] = value
        return params

    def _branch(self, name):
        for branch_name, transformer, _ in self.transformers:
            if branch_name == name:
                return transformer
        raise KeyError(name)

    def set_params(self, **params):
        """Set net parameters, whole branches or branch steps' parameters.

        Parameters
        ----------
        **params : dict
            ``lr=...``, ``module__dropout=...``, ``features=<estimator>``,
            ``features__rfecv__step=...``.

        Returns
        -------
        self : FusionClassifier
        """
        if "transformers" in params:
            super().set_params(transformers=params.pop("transformers"))
        names = set(self._branch_names())
        branch_params, net_params = {}, {}
        for key, value in params.items():
            head, _, rest = key.partition("__")
            if head in names:
                branch_params.setdefault(head, {})
                if rest:
                    branch_params[head][rest] = value
                else:
                    self._replace_branch(head, value)
            else:
                net_params[key] = value
        for name, sub_params in branch_params.items():
            if sub_params:
                self._branch(name).set_params(**sub_params)
        if net_params:
            super().set_params(**net_params)
        return self

    def set_output(self, *, transform=None):
        """Set the output container of every branch, as ColumnTransformer does.

        Tabular branches then return DataFrames (which the net reads as
        arrays); image branches keep returning image batches.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"} or None, default=None
            Passed to each branch's ``set_output``.

        Returns
        -------
        self : FusionClassifier
        """
        fitted = getattr(self, "transformers_", [])
        for _, transformer, _ in [*self.transformers, *fitted]:
            if transformer != "passthrough":
                _safe_set_output(transformer, transform=transform)
        return self

    def _replace_branch(self, name, transformer):
        # A new list, as ColumnTransformer does: the caller's list stays intact.
        self.transformers = [
            (n, transformer if n == name else t, c) for n, t, c in self.transformers
        ]

    # ------------------------------------------------------------------ #
    # fit
    # ------------------------------------------------------------------ #
    def _validate_transformers(self):
        names = []
        for branch in self.transformers:
            if not (isinstance(branch, tuple | list) and len(branch) == 3):
                raise ValueError(
                    f"Each entry of transformers must be (name, transformer, "
                    f"columns); got {branch!r}."
                )
            name, transformer, _ = branch
            if not isinstance(name, str) or not name.isidentifier() or "__" in name:
                raise ValueError(
                    f"Branch name {name!r} must be a Python identifier without "
                    "'__': it is the keyword of the module's forward."
                )
            if name in _RESERVED:
                raise ValueError(
                    f"Branch name {name!r} clashes with a skorch parameter prefix; "
                    f"choose another (reserved: {sorted(_RESERVED)})."
                )
            if not (
                transformer == "passthrough"
                or hasattr(transformer, "fit_transform")
                or (hasattr(transformer, "fit") and hasattr(transformer, "transform"))
            ):
                raise TypeError(
                    f"Branch {name!r}: {transformer!r} is neither a transformer "
                    "nor 'passthrough'."
                )
            names.append(name)
        if not names:
            raise ValueError("transformers is empty: give at least one branch.")
        if len(set(names)) != len(names):
            raise ValueError(f"Branch names must be unique; got {names}.")

    def _select(self, X, columns):
        if columns is None:
            return X
        if isinstance(X, dict):
            return X[columns]
        if isinstance(columns, str) and not hasattr(X, "columns"):
            raise ValueError(
                f"Column {columns!r} selects by name, which needs a DataFrame X; "
                f"got {type(X).__name__}."
            )
        if hasattr(X, "columns") and isinstance(columns, str):
            if columns not in X.columns:
                raise ValueError(
                    f"Column {columns!r} is not in X (columns: {list(X.columns)})."
                )
            return X[columns]
        if hasattr(X, "columns") and isinstance(columns, list):
            missing = [c for c in columns if isinstance(c, str) and c not in X.columns]
            if missing:
                raise ValueError(
                    f"Columns {missing} are not in X (columns: {list(X.columns)})."
                )
        return _safe_indexing(X, columns, axis=1)

    def _check_frame(self, X, reset):
        if sp.issparse(X):
            raise TypeError(
                "Sparse data was passed to FusionClassifier, but dense data is "
                "required: X is a table (DataFrame) whose columns feed the branches."
            )
        if isinstance(X, dict):
            n_columns, n_samples = len(X), num_samples(X)
        else:
            if not hasattr(X, "shape"):
                X = np.asarray(X, dtype=object)
            if len(X.shape) != 2:
                raise ValueError(
                    f"X must be a 2D table (a DataFrame of a paired data set); got "
                    f"an array of shape {X.shape}. Reshape your data either using "
                    "array.reshape(-1, 1) if your data has a single feature or "
                    "array.reshape(1, -1) if it contains a single sample."
                )
            n_samples, n_columns = X.shape
        if n_samples == 0:
            raise ValueError("X has 0 samples; a minimum of 1 is required.")
        if reset:
            self.n_features_in_ = n_columns
            if hasattr(X, "columns") and all(isinstance(c, str) for c in X.columns):
                self.feature_names_in_ = np.asarray(X.columns, dtype=object)
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif n_columns != self.n_features_in_ and not self._selects_by_name(X):
            raise ValueError(
                f"X has {n_columns} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input."
            )
        return X, n_samples

    def _selects_by_name(self, X):
        """Whether every branch picks columns of a DataFrame by name.

        Then, as in ColumnTransformer, a new X needs only the selected columns
        (each one missing is an error naming it, from ``_select``); extra or
        absent unused columns do not matter.
        """
        if not (hasattr(X, "columns") and hasattr(self, "feature_names_in_")):
            return False
        for _, _, columns in self.transformers_:
            names = [columns] if isinstance(columns, str) else columns
            if names is None or not all(isinstance(c, str) for c in names):
                return False
        return True

    def _fit_branches(self, X, y, groups, routed=None):
        """Fit clones of the branches; return the net's inputs, y and groups.

        ``routed`` holds each branch's routed ``fit_transform`` parameters
        (metadata routing), e.g. the patient ids RFECV's CV needs.
        """
        self._validate_transformers()
        X, n_samples = self._check_frame(X, reset=True)
        y = self._check_y(y, n_samples)
        if len(np.unique(y)) < 2 and self.classes is None:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes; "
                f"y has 1 class ({y[0]!r})."
            )
        outputs, rows = {}, {}
        fitted = []
        for name, transformer, columns in self.transformers:
            data = self._select(X, columns)
            if transformer == "passthrough":
                outputs[name], rows[name] = data, np.arange(n_samples)
                fitted.append((name, transformer, columns))
                continue
            transformer = clone(transformer)
            params = routed[name].fit_transform if routed is not None else {}
            output = transformer.fit_transform(data, y, **params)
            kept = kept_rows(
                [(name, transformer)],
                consequence="its rows cannot be matched across branches",
            )
            if kept is None:
                kept = np.arange(n_samples)
            if _num_samples(output) != len(kept):
                raise ValueError(
                    f"Branch {name!r} returned {_num_samples(output)} rows but its "
                    f"samplers' sample_indices_ account for {len(kept)}."
                )
            if len(np.unique(kept)) != len(kept):
                raise ValueError(
                    f"Branch {name!r} repeats rows (an over-sampler?); only "
                    "samplers that drop rows can be matched across branches."
                )
            outputs[name], rows[name] = output, kept
            fitted.append((name, transformer, columns))
        self.transformers_ = fitted
        self.named_transformers_ = Bunch(**{name: t for name, t, _ in fitted})
        # Rows every branch kept, in the original order.
        common = np.arange(n_samples)
        for kept in rows.values():
            common = np.intersect1d(common, kept)
        if len(common) == 0:
            raise ValueError("The branch samplers dropped every training row.")
        inputs = SliceDict()
        for name, output in outputs.items():
            position = np.searchsorted(np.sort(rows[name]), common)
            order = np.argsort(rows[name])[position]
            inputs[name] = _as_net_input(_take_rows(output, order), name)
        self.sample_indices_ = common
        self.n_dropped_ = n_samples - len(common)
        if groups is not None:
            groups = column_or_1d(groups)
            if len(groups) != n_samples:
                raise ValueError(
                    f"groups has {len(groups)} entries but X has {n_samples} rows."
                )
            groups = groups[common]
        return inputs, y[common], groups

    def _record_input_shapes(self, inputs):
        # Sample shape of each branch's output (None: a lazy batch), which
        # _transform_branches holds new data to.
        self.input_shapes_ = {
            name: None if isinstance(value, LazyImageBatch) else np.shape(value)[1:]
            for name, value in inputs.items()
        }

    def _transform_branches(self, X):
        """The net's inputs for new data: each fitted branch's transform."""
        X, _ = self._check_frame(X, reset=False)
        inputs = SliceDict()
        for name, transformer, columns in self.transformers_:
            data = self._select(X, columns)
            if transformer != "passthrough":
                data = transformer.transform(data)
            inputs[name] = _as_net_input(data, name)
            fitted = self.input_shapes_.get(name)
            if fitted is not None and np.shape(inputs[name])[1:] != fitted:
                raise ValueError(
                    f"Branch {name!r} was fitted on samples of shape {fitted}, but "
                    f"gives samples of shape {np.shape(inputs[name])[1:]} for X "
                    "(sample 0 on). New data must be prepared as the training "
                    "data were."
                )
        return inputs
