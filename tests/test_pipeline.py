"""Samplers and image chains in pipelines."""

import numpy as np
import pytest
import sklearn
from imblearn.over_sampling import SMOTE, RandomOverSampler
from imblearn.pipeline import make_pipeline as make_imb_pipeline
from sklearn.base import BaseEstimator, ClassifierMixin

from skradnod.cleaning import DuplicateRemover
from skradnod.models import NoduleCNNClassifier
from skradnod.pipeline import make_pipeline
from skradnod.preprocessing import make_ct_preprocessor


class Recorder(ClassifierMixin, BaseEstimator):
    """Remembers the rows and metadata it was fitted on."""

    def fit(self, X, y, groups=None, sample_weight=None):
        self.n_rows_, self.groups_, self.weight_ = len(X), groups, sample_weight
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def _planted(n=20, size=16):
    """Distinct HU crops; crop 5 is an exact copy of crop 0 (same label)."""
    rng = np.random.RandomState(0)
    X = rng.randint(-1000, 400, size=(n, size, size)).astype(np.float32)
    y = np.arange(n) % 2 + 1
    X[5], y[5] = X[0], y[0]
    return X, y, np.arange(n) // 2 + 100


def test_chain_follows_a_sampler_in_imblearn_pipeline():
    # It raised "All intermediate steps of the chain should not be Pipelines".
    X, y, _ = _planted()
    pipe = make_imb_pipeline(DuplicateRemover(), make_ct_preprocessor(), Recorder())
    pipe.fit(X, y)
    assert pipe[0].sample_indices_.tolist() == [i for i in range(20) if i != 5]
    assert pipe[-1].n_rows_ == 19
    # and its steps stay tunable by name
    pipe.set_params(imagechain__clahe__clip_limit=3.0)
    assert pipe[1].named_steps["clahe"].clip_limit == 3.0


def test_groups_are_resampled_with_the_rows():
    X, y, groups = _planted()
    weight = np.linspace(1, 2, 20)
    pipe = make_pipeline(DuplicateRemover(), make_ct_preprocessor(), Recorder())
    pipe.fit(X, y, recorder__groups=groups, recorder__sample_weight=weight)
    kept = pipe[0].sample_indices_
    np.testing.assert_array_equal(pipe[-1].groups_, groups[kept])
    np.testing.assert_array_equal(pipe[-1].weight_, weight[kept])
    # an over-sampler with sample_indices_ repeats rows, and their metadata
    over = make_pipeline(RandomOverSampler(random_state=0), Recorder())
    y_unbalanced = np.r_[np.ones(14, int), np.full(6, 2)]
    over.fit(X.reshape(20, -1), y_unbalanced, recorder__groups=groups)
    np.testing.assert_array_equal(
        over[-1].groups_, groups[over[0].sample_indices_]
    )
    assert len(over[-1].groups_) == 28


def test_groups_are_resampled_under_metadata_routing():
    X, y, groups = _planted()
    with sklearn.config_context(enable_metadata_routing=True):
        recorder = Recorder().set_fit_request(groups=True)
        pipe = make_pipeline(DuplicateRemover(), make_ct_preprocessor(), recorder)
        pipe.fit(X, y, groups=groups)
    np.testing.assert_array_equal(pipe[-1].groups_, groups[pipe[0].sample_indices_])


def test_issue_example_with_the_cnn_and_groups():
    X, y, groups = _planted()
    net = NoduleCNNClassifier(module__width=4, max_epochs=1, random_state=0, n_jobs=1)
    pipe = make_pipeline(DuplicateRemover(), make_ct_preprocessor(), net)
    pipe.fit(X, y, nodulecnnclassifier__groups=groups)
    assert pipe.predict(X).shape == (20,)


def test_sampler_that_creates_rows_cannot_carry_metadata():
    X, y, groups = _planted()
    pipe = make_pipeline(SMOTE(k_neighbors=2, random_state=0), Recorder())
    y_unbalanced = np.r_[np.ones(14, int), np.full(6, 2)]
    with pytest.raises(ValueError, match=r"'smote'.*creates samples.*groups"):
        pipe.fit(X.reshape(20, -1), y_unbalanced, recorder__groups=groups)
