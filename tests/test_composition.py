"""Composition: nested pipelines spliced, image-chain steps turned off."""

import pickle
import warnings

import numpy as np
import pytest
import sklearn
from _synthetic import make_bright_centres
from imblearn.pipeline import make_pipeline as make_imb_pipeline
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold, cross_val_score
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC

from skradnod.feature_selection import make_radiomics_selector
from skradnod.model_selection import UngroupedSplitWarning
from skradnod.pipeline import Pipeline, make_pipeline
from skradnod.preprocessing import CLAHE, ImageChain, make_ct_preprocessor
from skradnod.radiomics import RadiomicsExtractor


def _images(n=24):
    """Bright-centre crops; crop 0 is constant, so its radiomic row is NaN."""
    X, y = make_bright_centres(n, size=16, interleaved=True)
    X = (X * 400 - 800).astype(np.float32)  # HU-like values
    X[0] = -800.0
    return X, (y == 5).astype(int), np.arange(n) // 2


def _natural():
    return make_pipeline(
        RadiomicsExtractor(image_types=("Original",), feature_classes=["firstorder"]),
        make_radiomics_selector(
            estimator=RandomForestClassifier(n_estimators=5, random_state=0),
            step=0.5, cv=2,
        ),
        SVC(),
    )


def test_selector_composes_mid_chain():
    # On main: "All intermediate steps of the chain should not be Pipelines".
    X, y, groups = _images()
    pipe = _natural()
    assert [name for name, _ in pipe.steps] == [
        "radiomicsextractor", "variancethreshold", "outliertonan",
        "sparserowdropper", "knnimputer", "minmaxscaler", "correlationfilter",
        "rfecv", "svc",
    ]
    # nested parameters are reachable under the spliced names
    pipe.set_params(correlationfilter__threshold=0.95, rfecv__min_features_to_select=2)
    assert pipe.named_steps["correlationfilter"].threshold == 0.95
    pipe.fit(X, y, rfecv__groups=groups)
    # the sampler drops the NaN row, and the outer pipeline drops its label
    assert 0 not in pipe.named_steps["sparserowdropper"].sample_indices_
    assert pipe.named_steps["svc"].n_features_in_ == pipe["rfecv"].n_features_
    predicted = pipe.predict(X)
    assert predicted.shape == (24,)  # nothing is dropped at predict time
    restored = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(restored.predict(X), predicted)


def test_selector_mid_chain_cross_validates_by_patient():
    X, y, groups = _images()
    # groups reach RFECV's inner CV: it would warn without them
    routing = sklearn.config_context(enable_metadata_routing=True)
    with routing, warnings.catch_warnings():
        warnings.simplefilter("error", UngroupedSplitWarning)
        scores = cross_val_score(
            _natural(), X, y, cv=StratifiedGroupKFold(3),
            params={"groups": groups}, error_score="raise",
        )
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))


def test_splicing_names_and_refusals():
    inner = make_pipeline(StandardScaler(), MinMaxScaler())
    pipe = make_pipeline(StandardScaler(), inner, SVC())
    assert [name for name, _ in pipe.steps] == [
        "standardscaler-1", "standardscaler-2", "minmaxscaler", "svc"
    ]
    assert pipe[1] is inner[0]  # the same objects, not copies
    # a pipeline nested two deep is spliced too
    deep = make_pipeline(make_pipeline(StandardScaler(), inner), SVC())
    assert [name for name, _ in deep.steps] == [
        "standardscaler-1", "standardscaler-2", "minmaxscaler", "svc"
    ]
    # a last step that is a pipeline stays one step, as imbalanced-learn has it
    # (so "pipeline__correlationfilter__threshold" grids keep their names)
    tail = make_pipeline(RadiomicsExtractor(), make_radiomics_selector())
    reference = make_imb_pipeline(RadiomicsExtractor(), make_radiomics_selector())
    assert [n for n, _ in tail.steps] == [n for n, _ in reference.steps]
    assert "pipeline__correlationfilter__threshold" in tail.get_params()
    # a setting of the nested pipeline would be lost: refused
    cached = make_pipeline(StandardScaler(), MinMaxScaler(), memory="/nowhere")
    with pytest.raises(ValueError, match=r"Step 0 .*memory='/nowhere'.*spliced"):
        make_pipeline(cached, SVC())
    # Pipeline itself keeps its steps as given, and says how to compose
    X, y, _ = _images(8)
    with pytest.raises(TypeError, match=r"step 'inner' is itself a Pipeline.*make_"):
        Pipeline([("inner", inner), ("svc", SVC())]).fit(X.reshape(8, -1), y)


def test_chain_step_set_to_passthrough_is_skipped():
    # On main: "TypeError: ImageChain step 'clahe' is str".
    X, _, _ = _images(6)
    pipe = make_pipeline(make_ct_preprocessor(size=16), SVC())
    assert "imagechain__clahe" in pipe.get_params()
    without = ImageChain(
        [(n, s) for n, s in make_ct_preprocessor(size=16).steps if n != "clahe"]
    ).fit_transform(X)
    for off in ("passthrough", None):
        chain = pipe.set_params(imagechain__clahe=off)[0]
        np.testing.assert_array_equal(chain.fit_transform(X), without)
        np.testing.assert_array_equal(chain.fit(X).transform(X), without)
    assert not np.array_equal(make_ct_preprocessor(size=16).fit_transform(X), without)
    # a grid search can turn the step on and off
    X, y, _ = _images(12)
    search = GridSearchCV(
        make_pipeline(make_ct_preprocessor(size=8), _Flatten(), SVC()),
        {"imagechain__clahe": ["passthrough", CLAHE()]}, cv=2,
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 2
    with pytest.raises(TypeError, match=r"step 'clahe' is the string 'off'"):
        ImageChain([("clahe", "off")]).fit(X)


class _Flatten(sklearn.base.TransformerMixin, sklearn.base.BaseEstimator):
    """Images (n, H, W) to rows (n, H * W), for a tabular classifier."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X).reshape(len(X), -1)


def test_late_fusion_of_the_forest_and_the_cnn_is_a_soft_vote():
    # The user guide's late fusion: scikit-learn's VotingClassifier over a
    # radiomics forest and the nodule CNN, groups routed to the CNN's
    # early-stopping split, probabilities the mean of the members'.
    from sklearn.ensemble import VotingClassifier
    from sklearn.pipeline import make_pipeline as make_sk_pipeline

    from skradnod.models import NoduleCNNClassifier

    X, y = make_bright_centres(40, size=16, interleaved=True)
    X = (X * 400 - 800).astype(np.float32)
    groups = np.arange(40) // 2
    forest = make_sk_pipeline(
        RadiomicsExtractor(image_types=("Original",), feature_classes=["firstorder"]),
        RandomForestClassifier(n_estimators=20, random_state=0),
    )
    cnn = make_sk_pipeline(
        make_ct_preprocessor(size=16, clahe=False, bilateral=False),
        NoduleCNNClassifier(module__width=4, max_epochs=2, random_state=0,
                            device="cpu"),
    )
    vote = VotingClassifier([("forest", forest), ("cnn", cnn)], voting="soft")
    with sklearn.config_context(enable_metadata_routing=True), \
            warnings.catch_warnings():
        warnings.simplefilter("error", UngroupedSplitWarning)
        vote.fit(X, y, groups=groups)
    members = [est.predict_proba(X) for est in vote.estimators_]
    np.testing.assert_allclose(vote.predict_proba(X), np.mean(members, axis=0))
    np.testing.assert_array_equal(vote.classes_, [1, 5])
    assert vote.score(X, y) > 0.9  # the forest alone separates bright centres
