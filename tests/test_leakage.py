"""Leakage audit: no patient on both sides of any split, at any level.

Every split a workflow makes (the outer folds, an inner model search, RFECV,
the SVM's calibration CV, each net's early-stopping split) is recorded with the
patient ids on each side; the audit asserts that every split received patient
ids and that no patient is on both sides. A split that gets no ids warns
(``UngroupedSplitWarning``), which the audit turns into an error.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from imblearn.pipeline import make_pipeline as imblearn_make_pipeline
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedGroupKFold,
    cross_val_score,
)
from sklearn.pipeline import make_pipeline
from sklearn.utils import Bunch
from skorch.callbacks import Callback

from skradnod.compose import FusionClassifier
from skradnod.evaluation import _validation
from skradnod.experiments import EXPERIMENTS, RATING_COLUMNS, run_experiments
from skradnod.feature_selection import make_radiomics_selector
from skradnod.model_selection import (
    PatientStratifiedKFold,
    UngroupedSplitWarning,
    ValidationSplit,
)
from skradnod.models import NoduleCNNClassifier
from skradnod.nn import FusionNet, TransferNet
from skradnod.preprocessing import Resize, make_ct_preprocessor
from skradnod.radiomics import RadiomicsExtractor


def _cohort(n_patients=30, readings=2, crop=16, full=40, seed=0):
    """Paired images of ``n_patients`` patients, ``readings`` each.

    A nodule crop is a noisy disc (brighter for malignant ratings); the full
    slice holds the crop at a random place, as template matching expects.
    """
    rng = np.random.RandomState(seed)
    n = n_patients * readings
    groups = np.repeat(np.arange(n_patients), readings)
    y = 1 + (np.arange(n) % 5)
    yy, xx = np.mgrid[:crop, :crop] - (crop - 1) / 2
    nodules, fulls = [], []
    for label in y:
        disc = (np.hypot(yy, xx) < crop / 3) * (100.0 * label)
        nodule = -800 + disc + rng.normal(0, 60, (crop, crop))
        image = -900 + rng.normal(0, 60, (full, full))
        top, left = rng.randint(0, full - crop, 2)
        image[top : top + crop, left : left + crop] = nodule
        nodules.append(nodule.astype(np.float32))
        fulls.append(image.astype(np.float32))
    frame = pd.DataFrame({"full": fulls, "nodule": nodules})
    for column in RATING_COLUMNS:
        frame[column] = rng.randint(1, 6, n)
    frame["diameter_mm"] = rng.uniform(3, 30, n)
    return Bunch(
        frame=frame,
        full=np.stack(fulls),
        nodule=np.stack(nodules),
        target=y,
        groups=groups,
    )


class _SplitLog:
    """Records the patients on both sides of every split the patched classes make."""

    def __init__(self, monkeypatch):
        self.records = []
        for cls in (
            StratifiedGroupKFold,
            PatientStratifiedKFold,
            ValidationSplit,
            _validation._FixedSplits,
        ):
            monkeypatch.setattr(cls, "split", self._recording(cls.split, cls.__name__))

    def _recording(self, split, name):
        log = self.records

        def recorded(self, X=None, y=None, groups=None):
            for train, test in split(self, X, y, groups):
                if groups is None:
                    log.append((name, getattr(self, "name", None), None, None))
                else:
                    groups_ = np.asarray(groups)
                    log.append(
                        (name, getattr(self, "name", None),
                         set(groups_[train]), set(groups_[test]))
                    )
                yield train, test

        return recorded

    def check(self, expected_kinds):
        ungrouped = [r[:2] for r in self.records if r[2] is None]
        assert not ungrouped, f"splits without patient ids: {ungrouped}"
        shared = [r[:2] for r in self.records if r[2] & r[3]]
        assert not shared, f"splits with a patient on both sides: {shared}"
        kinds = {r[0] for r in self.records} | {r[1] for r in self.records}
        missing = set(expected_kinds) - kinds
        assert not missing, f"levels never split: {missing}"


@pytest.fixture
def split_log(monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UngroupedSplitWarning)
        yield _SplitLog(monkeypatch)


def test_every_experiment_row_splits_by_patient_at_every_level(
    tmp_path, split_log
):
    data = _cohort()
    weights = tmp_path / "densenet121.pt"
    torch.save(TransferNet("densenet121", n_classes=2).state_dict(), weights)
    transfer = {"weights": weights, "backbone": "densenet121"}
    preset = {
        "rfecv_cv": 2, "rfecv_trees": 5, "cnn_width": 4, "nodule_size": 32,
        "full_size": 32, "max_epochs": 1, "batch_size": 16, "full_batch_size": 16,
        "locator_size": 32, "crop_size": 16,
        "n_estimators": 5, "selector_preset": "fast", "rfecv_step": 0.5,
        "radiomics_image_types": ("Original",), "inner_cv": 2, "latent_dim": 4,
        "n_bootstrap": 0,
    }
    results = run_experiments(
        data,
        rows="all",
        task="binary",
        cv=2,
        device="cpu",
        preset=preset,
        params={"transfer_imagenet": transfer, "transfer_radimagenet": transfer},
        out_dir=tmp_path / "run",
        figures=False,
        verbose=False,
    )
    assert set(results["key"]) == set(EXPERIMENTS)
    assert (results["status"] == "ok").all(), results.loc[
        results["status"] != "ok", ["key", "message"]
    ].to_string()
    split_log.check(
        [
            "_FixedSplits",  # outer folds
            "the features row's model search",
            "RFECV's CV in make_radiomics_selector",
            "the SVM's calibration CV",
            "FeatureNetClassifier's early-stopping validation split",
            "NoduleCNNClassifier's early-stopping validation split",
            "FusionClassifier's early-stopping validation split",
            "AutoencoderEmbedding's early-stopping validation split",
            "the autoencoder row's regularisation search",
            "CenterRegressionClassifier's early-stopping validation split",
            "TransferClassifier's early-stopping validation split",
            "NoduleLocator's early-stopping validation split",
        ]
    )


def test_readme_example_splits_by_patient_at_every_level(tmp_path, split_log):
    data = _cohort(n_patients=16)
    features = imblearn_make_pipeline(
        # cached: the refits of the CV and the search extract each image once
        RadiomicsExtractor(image_types=("Original",), memory=str(tmp_path)),
        make_radiomics_selector(preset="fast", cv=2, step=0.5, random_state=0),
    )
    model = FusionClassifier(
        transformers=[
            ("image", make_ct_preprocessor(size=32), "nodule"),
            ("features", features, "nodule"),
        ],
        module=FusionNet,
        module__image_width=2,
        max_epochs=1,
        random_state=0,
    )
    cv = StratifiedGroupKFold(2)
    y = (data.target > 3).astype(int)
    with sklearn.config_context(enable_metadata_routing=True):
        scores = cross_val_score(
            model, data.frame, y, cv=cv, params={"groups": data.groups}
        )
        grid = {"features__pipeline__correlationfilter__threshold": [0.8, 0.9]}
        GridSearchCV(model, grid, cv=cv).fit(data.frame, y, groups=data.groups)
    assert scores.shape == (2,)
    split_log.check(
        [
            "StratifiedGroupKFold",
            "RFECV's CV in make_radiomics_selector",
            "FusionClassifier's early-stopping validation split",
        ]
    )


class _ValidationPatients(Callback):
    """Reads the patient id written into pixel (0, 0) on both sides of the split."""

    seen = []

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        def patients(subset):
            images = subset.dataset.X[subset.indices]
            return set(np.rint(images[:, 0, 0] * 1000).astype(int).tolist())

        type(self).seen.append((patients(dataset_train), patients(dataset_valid)))


def test_users_cross_val_score_gives_patient_disjoint_early_stopping():
    # 40 patients x 3 images, the patient id written into a pixel, as a user's
    # `cross_val_score(pipeline, X, y, groups=g)` with routing enabled.
    rng = np.random.RandomState(0)
    groups = np.repeat(np.arange(40), 3)
    y = (groups % 2).astype(int)
    X = rng.rand(120, 16, 16).astype(np.float32)
    X[:, 0, 0] = groups / 1000
    _ValidationPatients.seen = []
    pipe = make_pipeline(
        Resize((16, 16)),
        NoduleCNNClassifier(
            module__width=4, max_epochs=1, random_state=0,
            callbacks=[("patients", _ValidationPatients())],
        ),
    )
    with sklearn.config_context(enable_metadata_routing=True):
        cross_val_score(
            pipe, X, y, cv=StratifiedGroupKFold(4), params={"groups": groups}
        )
    assert len(_ValidationPatients.seen) == 4
    for train, valid in _ValidationPatients.seen:
        assert valid and train and not train & valid
    # The same pipeline fitted without groups leaks, and says so.
    _ValidationPatients.seen = []
    with pytest.warns(UngroupedSplitWarning, match="early-stopping validation"):
        pipe.fit(X, y)
    train, valid = _ValidationPatients.seen[0]
    assert train & valid
