"""Meta-estimators that compose skradnod's steps: the fusion classifier."""

import inspect

from sklearn import get_config
from sklearn.base import _fit_context
from sklearn.utils.metadata_routing import MethodMapping, process_routing
from sklearn.utils.validation import check_is_fitted

from ..models._base import BaseNetClassifier
from ..nn import FusionNet
from ._branches import BranchesMixin

__all__ = ["FusionClassifier"]

class FusionClassifier(BranchesMixin, BaseNetClassifier):
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
        batch_size=32,
        class_weight="sqrt",
        **kwargs,
    ):
        # skorch's subclass idiom: only the defaults that differ from the
        # recipe's (BaseNetClassifier) are named; the rest pass through **kwargs.
        super().__init__(
            module, batch_size=batch_size, class_weight=class_weight, **kwargs
        )
        self.transformers = transformers

    # ------------------------------------------------------------------ #
    # fit
    # ------------------------------------------------------------------ #
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
        self._record_input_shapes(inputs)
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

    def _check_X(self, X, *, reset):
        # The fitted branches' transform; fit builds the inputs with _fit_branches.
        check_is_fitted(self, "transformers_")
        return self._transform_branches(X)

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

