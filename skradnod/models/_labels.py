"""Labels of the nets: checking, encoding, classes and class weights.

:class:`LabelMixin` gives :class:`~skradnod.models._base.BaseNetClassifier`
scikit-learn's label handling: any labels are accepted and returned by
``predict`` as given, the net trains on their codes (``classes_`` order), and
``class_weight`` becomes the criterion's weights (method step 6).
"""

import numpy as np
from sklearn.utils import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from ._data import num_samples

__all__ = ["LabelMixin"]


class LabelMixin:
    """Label checking and encoding of a classifier net (a mixin).

    It reads the net's ``classes`` (skorch's parameter) and ``class_weight``
    and sets ``classes_inferred_`` (which skorch's ``classes_`` property reads)
    and ``class_weight_``.
    """

    def _check_y(self, y, n_samples):
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if len(y) != n_samples:
            raise ValueError(
                f"X has {n_samples} samples but y has {len(y)} labels."
            )
        return y

    def _check_targets(self, X, y, groups, *, reset, classes=None):
        """Encoded labels and checked groups for the checked inputs ``X``."""
        n_samples = num_samples(X)
        y = self._check_y(y, n_samples)
        if reset:
            self._set_classes(y, classes)
        else:
            unknown = np.setdiff1d(y, self.classes_)
            if unknown.size:
                raise ValueError(
                    f"y contains labels {unknown.tolist()} not seen in the first "
                    f"partial_fit (classes {self.classes_.tolist()})."
                )
        y_encoded = np.searchsorted(self.classes_, y).astype(np.int64)
        if reset:
            self.class_weight_ = self._compute_class_weight(y_encoded)
        if groups is not None:
            groups = column_or_1d(groups)
            if len(groups) != n_samples:
                raise ValueError(
                    f"groups has {len(groups)} entries but X has {n_samples} "
                    "samples. If a sampler earlier in the pipeline dropped rows, "
                    "build it with skradnod.pipeline.make_pipeline, which "
                    "resamples groups with the rows."
                )
        return y_encoded, groups

    def _set_classes(self, y, classes=None):
        labels = np.unique(y)
        if classes is None:
            classes = self.classes
        if classes is not None:
            classes = np.asarray(classes)
            unknown = np.setdiff1d(labels, classes)
            if unknown.size:
                raise ValueError(
                    f"y contains labels {unknown.tolist()} that are not in the "
                    f"classes parameter {classes.tolist()}."
                )
            labels = np.unique(classes)
        elif len(labels) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes; "
                f"y has 1 class ({labels[0]!r})."
            )
        # skorch's ``classes_`` property reads this attribute.
        self.classes_inferred_ = labels

    def _compute_class_weight(self, y_encoded):
        if self.class_weight is None:
            return None
        n_classes = len(self.classes_)
        if self.class_weight in ("balanced", "sqrt"):
            present = np.unique(y_encoded)
            weight = np.zeros(n_classes)
            weight[present] = compute_class_weight(
                "balanced", classes=present, y=y_encoded
            )
            if self.class_weight == "sqrt":
                weight = np.sqrt(weight)
        else:
            unknown = set(self.class_weight) - set(self.classes_.tolist())
            if unknown:
                raise ValueError(
                    f"class_weight has labels {sorted(unknown)} not in y "
                    f"(classes {self.classes_.tolist()})."
                )
            weight = np.array(
                [float(self.class_weight.get(c, 1.0)) for c in self.classes_.tolist()]
            )
        return weight / weight.sum()

