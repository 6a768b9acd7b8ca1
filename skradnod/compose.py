"""Meta-estimators that compose skradnod's steps: the fusion classifier."""

import inspect

import numpy as np
import scipy.sparse as sp
from sklearn import get_config
from sklearn.base import _fit_context, clone
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch, _safe_indexing
from sklearn.utils._set_output import _safe_set_output
from sklearn.utils.metadata_routing import MethodMapping, process_routing
from sklearn.utils.validation import _num_samples, check_is_fitted, column_or_1d
from skorch.helper import SliceDict

from .models._base import BaseNetClassifier
from .models._data import num_samples
from .nn import FusionNet
from .utils import LazyImageBatch, check_image_batch

__all__ = ["FusionClassifier"]

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


def _kept_rows(estimator, rows):
    """Compose the ``sample_indices_`` of the samplers inside a fitted estimator."""
    if isinstance(estimator, Pipeline):  # imblearn's Pipeline subclasses it
        for _, step in estimator.steps:
            if step is None or isinstance(step, str):
                continue
            rows = _kept_rows(step, rows)
        return rows
    if hasattr(estimator, "fit_resample"):
        indices = getattr(estimator, "sample_indices_", None)
        if indices is None:
            raise ValueError(
                f"Sampler {type(estimator).__name__} has no sample_indices_: it "
                "creates samples, so its rows cannot be matched across branches."
            )
        rows = rows[np.asarray(indices)]
    return rows


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


class FusionClassifier(BaseNetClassifier):
    """Train a multi-input net on the outputs of per-column transformer branches.

    Like :class:`~sklearn.compose.ColumnTransformer`, each branch
    ``(name, transformer, columns)`` transforms the selected columns of ``X``
    (a DataFrame of a paired data set); unlike it, the branch outputs are not
    concatenated but passed to the network as keyword arguments,
    ``module(**{name: output})``. With :class:`~skradnod.nn.FusionNet` the
    branches are ``image`` (preprocessed crops) and ``features`` (selected
    radiomic features): the thesis's best model.

    Rows that a sampler inside a branch drops during ``fit`` (e.g.
    ``SparseRowDropper`` in the radiomics selector, ``DuplicateRemover``) are
    dropped from every branch and from ``y`` before the net trains; at predict
    time nothing is dropped.

    Parameters
    ----------
    transformers : list of (str, estimator or "passthrough", columns)
        The branches. ``columns`` is a column name (that column, e.g. a Series
        of images, goes to the transformer), a list of names or integer
        positions, or None (the whole ``X``). The name is the keyword of the
        module's ``forward`` and the prefix of the branch's parameters
        (``features__rfecv__step``).
    module : torch.nn.Module class or instance, default=FusionNet
        The network; ``n_classes`` and, per tabular branch ``name``,
        ``n_<name>`` (and ``n_features`` when there is one tabular branch) are
        filled in from the data when the module accepts them.
    lr : float, default=1e-3
        AdamW learning rate.
    max_epochs : int, default=60
        Maximum number of epochs.
    batch_size : int, default=32
        Mini-batch size.
    patience : int or None, default=10
        Early-stopping patience on the validation loss (best weights restored).
    lr_patience : int or None, default=5
        ReduceLROnPlateau patience.
    lr_factor : float, default=0.5
        ReduceLROnPlateau factor.
    class_weight : "balanced", "sqrt", dict or None, default="sqrt"
        Cross-entropy class weights, normalised to sum to 1 ("sqrt": inverse
        square root of the class frequencies, as for
        :class:`~skradnod.models.NoduleCNNClassifier`; "balanced" is the
        method's step 6).
    valid_size : float or None, default=0.2
        Validation fraction of the net's training rows (stratified; grouped when
        ``fit`` gets ``groups``).
    augment : bool, default=True
        Random flips and rotations of image inputs during training only.
    rotation : float, default=15.0
        Rotation range in degrees.
    device : str, default="auto"
        "auto" (CUDA if available, else CPU), "cpu", "cuda", ...
    random_state : int, RandomState instance or None, default=None
        Seed of the net's initialisation, split, batch order and augmentation
        (the branches keep their own ``random_state``).
    n_jobs : int or None, default=None
        Torch threads during fit and predict (None: torch's setting; 1 for
        small nets or parallel fits).
    verbose : int, default=0
        1 prints a per-epoch table, 2 adds a progress bar.
    precision : {"auto", "32", "bf16", "fp16"}, default="auto"
        Mixed precision ("auto": bfloat16 on a CUDA device that supports it,
        float32 elsewhere, so CPU results are unchanged).
    compile : bool, default=False
        Compile the module with ``torch.compile``.
    **kwargs
        Further skorch parameters (``module__dropout``, ...).

    Attributes
    ----------
    transformers_ : list of (str, estimator, columns)
        The fitted branches (clones of ``transformers``).
    named_transformers_ : Bunch
        The fitted branches by name.
    sample_indices_ : ndarray of shape (n_kept,)
        Rows of the training ``X`` the net was trained on (those no branch
        sampler dropped).
    n_dropped_ : int
        Number of training rows dropped by the branch samplers.
    input_shapes_ : dict
        Per-sample shape of each branch output; ``predict`` rejects other
        shapes (e.g. an image branch without its ``Resize``).
    n_features_in_ : int
        Number of columns of ``X`` in fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of ``X``, when it is a DataFrame with string columns.
    classes_ : ndarray of shape (n_classes,)
        Labels seen in ``fit``.
    class_weight_ : ndarray of shape (n_classes,) or None
        Criterion weights (sum 1).
    device_ : str
        Device used for training.
    module_ : torch.nn.Module
        The trained network.

    See Also
    --------
    skradnod.nn.FusionNet : The default network.
    sklearn.compose.ColumnTransformer : The column-selection model.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skradnod.compose import FusionClassifier
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1], 20)
    >>> images = rng.rand(40, 32, 32).astype(np.float32) + y[:, None, None]
    >>> frame = pd.DataFrame({"nodule": list(images),
    ...                       "diameter": rng.normal(size=40) + 2 * y})
    >>> clf = FusionClassifier(
    ...     [("image", "passthrough", "nodule"),
    ...      ("features", StandardScaler(), ["diameter"])],
    ...     module__image_width=4, max_epochs=30, lr=1e-2, random_state=0,
    ...     n_jobs=1)
    >>> float(clf.fit(frame, y).score(frame, y)) > 0.9
    True
    >>> sorted(clf.named_transformers_)
    ['features', 'image']
    """

    _parameter_constraints: dict = {
        **BaseNetClassifier._parameter_constraints,
        "transformers": [list],
    }

    def __init__(
        self,
        transformers,
        *,
        module=FusionNet,
        lr=1e-3,
        max_epochs=60,
        batch_size=32,
        patience=10,
        lr_patience=5,
        lr_factor=0.5,
        class_weight="sqrt",
        valid_size=0.2,
        augment=True,
        rotation=15.0,
        device="auto",
        random_state=None,
        n_jobs=None,
        verbose=0,
        precision="auto",
        compile=False,
        **kwargs,
    ):
        super().__init__(
            module,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            patience=patience,
            lr_patience=lr_patience,
            lr_factor=lr_factor,
            class_weight=class_weight,
            valid_size=valid_size,
            augment=augment,
            rotation=rotation,
            device=device,
            random_state=random_state,
            n_jobs=n_jobs,
            verbose=verbose,
            precision=precision,
            compile=compile,
            **kwargs,
        )
        self.transformers = transformers

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
            kept = _kept_rows(transformer, np.arange(n_samples))
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

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, groups=None, **fit_params):
        """Fit every branch on its columns and ``y``, then train the net.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_columns)
            Paired data set (e.g. ``load_nodule_dataset(path).frame``).
        y : array-like of shape (n_samples,)
            Labels (1-5 or 0/1), returned as given by ``predict``.
        groups : array-like of shape (n_samples,) or None, default=None
            Patient ids for the net's grouped validation split (the rows the
            branch samplers keep). Requested by default under metadata routing,
            which then also routes them to the branches that request them (the
            CV of RFECV in :func:`~skradnod.feature_selection.
            make_radiomics_selector`).
        **fit_params : dict
            Passed to the module's ``forward`` by skorch.

        Returns
        -------
        self : FusionClassifier
        """
        routed = None
        if get_config()["enable_metadata_routing"]:
            metadata = {"groups": groups} if groups is not None else {}
            routed = process_routing(self, "fit", **metadata, **fit_params)
        X, y, groups = self._check_fit_data(
            X, y, groups, reset=True, routed=routed
        )
        return self._train(X, y, groups, **fit_params)

    def _check_fit_data(self, X, y, groups, *, reset, classes=None, routed=None):
        if not reset:
            # Later partial_fit calls: the fitted branches transform X (_check_X).
            return super()._check_fit_data(X, y, groups, reset=False)
        inputs, y, groups = self._fit_branches(X, y, groups, routed)
        inputs, _ = self._check_inputs(inputs, reset=True)
        y, groups = self._check_targets(
            inputs, y, groups, reset=True, classes=classes
        )
        return inputs, y, groups

    def get_metadata_routing(self):
        """Metadata routing: ``groups`` reach the net's split and the branches.

        Returns
        -------
        routing : sklearn.utils.metadata_routing.MetadataRouter
        """
        router = super().get_metadata_routing()
        for name, transformer, _ in self.transformers:
            if transformer == "passthrough":
                continue
            router.add(
                **{name: transformer},
                method_mapping=MethodMapping().add(
                    caller="fit", callee="fit_transform"
                ),
            )
        return router

    def partial_fit(self, X, y=None, classes=None, groups=None, **fit_params):
        """Fit the branches and train the net on the first call; train more later.

        The branches (and their samplers) are fitted on the first call only;
        later calls transform ``X`` with them and continue training the net for
        ``max_epochs`` epochs.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_columns)
            Paired data set.
        y : array-like of shape (n_samples,)
            Labels.
        classes : array-like or None, default=None
            All labels, needed on the first call when ``y`` lacks some.
        groups : array-like of shape (n_samples,) or None, default=None
            Patient ids for the net's validation split.
        **fit_params : dict
            Passed to the module's ``forward`` by skorch.

        Returns
        -------
        self : FusionClassifier
        """
        return super().partial_fit(
            X, y, classes=classes, groups=groups, **fit_params
        )

    def _check_inputs(self, inputs, reset):
        n = num_samples(inputs)
        shapes = {}
        for name, value in inputs.items():
            if isinstance(value, LazyImageBatch):
                shapes[name] = None
            else:
                shapes[name] = np.shape(value)[1:]
        if reset:
            self.input_shapes_ = shapes
        return inputs, n

    def _check_X(self, X, *, reset):
        # The branches' transform; fit builds the inputs with _fit_branches.
        check_is_fitted(self, "transformers_")
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

    def get_module_params_from_data(self):
        params = {"n_classes": len(self.classes_)}
        tabular = {
            name: shape[0]
            for name, shape in self.input_shapes_.items()
            if shape is not None and len(shape) == 1
        }
        for name, width in tabular.items():
            params[f"n_{name}"] = width
        if len(tabular) == 1:
            params.setdefault("n_features", next(iter(tabular.values())))
        return params

    def initialize_module(self):
        # The module's forward must take exactly the branch names.
        super().initialize_module()
        forward = inspect.signature(self.module_.forward).parameters
        accepts_any = any(p.kind == p.VAR_KEYWORD for p in forward.values())
        missing = [name for name, _, _ in self.transformers if name not in forward]
        if missing and not accepts_any:
            raise ValueError(
                f"Branches {missing} are not arguments of "
                f"{type(self.module_).__name__}.forward{tuple(forward)}; branch "
                "names must be the module's forward keyword names."
            )
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # X is a table (a DataFrame whose cells may hold images).
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = False
        return tags

