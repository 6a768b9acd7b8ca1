"""skradnod.inspection: Grad-CAM and permutation importance on planted answers."""

import csv

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skradnod.inspection import (
    FeatureImportanceDisplay,
    GradCAMDisplay,
    explain_predictions,
    feature_groups,
    grad_cam,
    grouped_permutation_importance,
)
from skradnod.models import FeatureNetClassifier, NoduleCNNClassifier
from skradnod.radiomics import RadiomicsExtractor

SIZE, RADIUS = 32, 3


def _blob_crops(n, seed):
    """Noisy crops; odd ones hold a bright disk at a random place (label 1)."""
    rng = np.random.RandomState(seed)
    X = rng.normal(0.3, 0.05, (n, SIZE, SIZE)).astype(np.float32)
    y = np.arange(n) % 2
    rows, cols = np.mgrid[:SIZE, :SIZE]
    masks = np.zeros((n, SIZE, SIZE), bool)
    centres = rng.randint(RADIUS + 1, SIZE - RADIUS - 1, (n, 2))
    for i in np.flatnonzero(y == 1):
        masks[i] = (rows - centres[i, 0]) ** 2 + (cols - centres[i, 1]) ** 2 <= (
            RADIUS**2
        )
        X[i][masks[i]] = 1.0
    return X, y, masks


@pytest.fixture(scope="module")
def blob_net():
    X, y, _ = _blob_crops(200, seed=0)
    # Through a pipeline: the heat map must lie over what the net read.
    model = make_pipeline(
        FunctionTransformer(lambda images: images * 1.0),
        NoduleCNNClassifier(
            module__width=4, max_epochs=8, lr=1e-2, valid_size=None,
            augment=False, random_state=0, n_jobs=1,
        ),
    )
    return model.fit(X, y)


@pytest.fixture
def no_pyplot_figures():
    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before, "a display left a figure in pyplot"


def _hits(heatmaps, masks):
    peaks = [np.unravel_index(h.argmax(), h.shape) for h in heatmaps]
    return int(sum(mask[peak] for mask, peak in zip(masks, peaks)))


def test_gradcam_peak_lies_inside_the_planted_blob(blob_net):
    X, y, masks = _blob_crops(100, seed=1)
    blobs = y == 1
    cam = grad_cam(blob_net, X[blobs], target=1)
    assert cam.layer == "features.10"  # the last SE block, before the pooling
    assert cam.heatmaps.shape == (50, SIZE, SIZE)
    hits = _hits(cam.heatmaps, masks[blobs])
    assert hits >= 45, f"peak inside the blob in only {hits}/50 crops"
    # The same maps read as (col, row) miss: the test sees where the peak is.
    assert _hits(cam.heatmaps.transpose(0, 2, 1), masks[blobs]) < 25
    np.testing.assert_allclose(cam.proba, blob_net.predict_proba(X[blobs]), atol=1e-6)
    np.testing.assert_array_equal(cam.predicted, blob_net.predict(X[blobs]))


def test_gradcam_display_from_estimator(blob_net, no_pyplot_figures):
    X, _, masks = _blob_crops(6, seed=2)
    disp = GradCAMDisplay.from_estimator(blob_net, X, index=3)
    assert disp.heatmap.shape == disp.image.shape == (SIZE, SIZE)
    assert masks[3][np.unravel_index(disp.heatmap.argmax(), disp.heatmap.shape)]
    assert disp.predicted == 1 and 0.5 < disp.proba <= 1.0
    assert disp.ax_.get_title().startswith(f"predicted 1 (p={disp.proba:.2f})")
    assert isinstance(disp.figure_, Figure)
    np.testing.assert_allclose(disp.image, X[3], atol=1e-6)
    # A class other than the predicted one is named in the title.
    other = GradCAMDisplay.from_estimator(blob_net, X, index=3, target=0)
    assert "Grad-CAM of class 0" in other.ax_.get_title()


def test_gradcam_layer_can_be_chosen(blob_net):
    X, _, _ = _blob_crops(2, seed=3)
    net = blob_net[-1]
    by_name = grad_cam(blob_net, X, layer="features.5")
    by_module = grad_cam(blob_net, X, layer=net.module_.features[5])
    assert by_name.layer == by_module.layer == "features.5"
    np.testing.assert_allclose(by_name.heatmaps, by_module.heatmaps)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"layer": "features.99"}, r"layer='features.99' is not a layer of NoduleCNN"),
        ({"target": 7}, r"target must be 'predicted' or one of the net's classes"),
        ({"index": 6}, r"index must be an integer position in X, which holds 6"),
    ],
)
def test_gradcam_bad_parameters_are_named(blob_net, kwargs, match):
    X, _, _ = _blob_crops(6, seed=4)
    with pytest.raises(ValueError, match=match):
        GradCAMDisplay.from_estimator(blob_net, X, **kwargs)


def test_gradcam_rejects_images_outside_the_contract(blob_net):
    wrong = np.zeros((2, 20, 20), np.float32)
    with pytest.raises(ValueError, match=r"fitted on images of shape \(32, 32\)"):
        grad_cam(blob_net, wrong)


def test_gradcam_needs_a_conv_net():
    rng = np.random.RandomState(0)
    F, y = rng.normal(size=(20, 4)), np.arange(20) % 2
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(F, y)
    with pytest.raises(ValueError, match="got RandomForestClassifier, which has no"):
        grad_cam(forest, F)
    dense = FeatureNetClassifier(max_epochs=1, valid_size=None, random_state=0)
    with pytest.raises(ValueError, match="FeatureBranch has no convolutional layer"):
        grad_cam(dense.fit(F, y), F)


def _planted_table(n=120, seed=0, copies=True):
    """Label = sign of column 2 (with ``copies``, also in columns 3 and 4)."""
    rng = np.random.RandomState(seed)
    F = rng.normal(size=(n, 7))
    y = (F[:, 2] > 0).astype(int)
    if copies:
        F[:, 3] = F[:, 4] = F[:, 2]
    names = [
        "original_firstorder_Mean", "original_firstorder_Range",
        "original_glcm_Contrast", "original_glcm_Idm", "original_glcm_Energy",
        "original_shape2D_Area", "original_shape2D_Perimeter",
    ]
    return F, y, names, np.arange(n) // 2


def test_importance_ranks_the_planted_feature_first(no_pyplot_figures):
    F, y, names, groups = _planted_table(copies=False)
    forest = RandomForestClassifier(n_estimators=30, random_state=0)
    disp = FeatureImportanceDisplay.from_estimator(
        forest, F, y, groups=groups, feature_names=names, grouping="feature", cv=3
    )
    order = np.argsort(-disp.importances_mean)
    assert disp.feature_names[order[0]] == "original_glcm_Contrast"
    assert disp.importances_mean[order[0]] > 0.3 > disp.importances_mean[order[1]]
    assert disp.ax_.get_yticklabels()[-1].get_text() == "original_glcm_Contrast"
    assert disp.importances.shape == (7, 3 * 5)  # features x (folds * repeats)
    assert len(disp.bars_) == 7 and isinstance(disp.figure_, Figure)


def test_importance_permutes_a_feature_class_as_a_whole():
    F, y, names, groups = _planted_table(copies=True)
    forest = RandomForestClassifier(n_estimators=30, random_state=0)
    single = grouped_permutation_importance(
        forest, F, y, groups=groups, feature_names=names, grouping="feature", cv=3
    )
    grouped = grouped_permutation_importance(
        forest, F, y, groups=groups, feature_names=names, cv=3
    )
    assert list(grouped.feature_names) == [
        "original_firstorder", "original_glcm", "original_shape2D"]
    assert grouped.groups["original_glcm"] == names[2:5]
    # Permuting the three copies together takes the answer away (balanced
    # accuracy falls from about 1 to chance, a drop of about 0.5); permuting
    # one alone cannot, the other copies still hold it.
    assert grouped.importances_mean[1] > 0.4
    assert grouped.importances_mean[1] > 2 * single.importances_mean[2:5].max()


def test_importance_extracts_radiomics_once_and_names_them(monkeypatch):
    # Label = a bright nodule centre: pyradiomics' first-order class carries it.
    rng = np.random.RandomState(0)
    X = rng.normal(-700, 30, (40, 24, 24))
    y = np.arange(40) % 2
    X[y == 1, 8:16, 8:16] += 600
    calls = []
    transform = RadiomicsExtractor.transform
    monkeypatch.setattr(RadiomicsExtractor, "transform",
                        lambda self, X: calls.append(len(X)) or transform(self, X))
    model = make_pipeline(
        RadiomicsExtractor(image_types=("Original",),
                           feature_classes=["firstorder", "shape2D"]),
        RandomForestClassifier(n_estimators=20, random_state=0),
    )
    disp = FeatureImportanceDisplay.from_estimator(
        model, X, y, groups=np.arange(40) // 2, cv=2, n_repeats=3
    )
    assert calls == []  # one fit_transform, no extraction per fold
    assert set(disp.feature_names) == {"original_firstorder", "original_shape2D"}
    assert disp.feature_names[np.argmax(disp.importances_mean)] == "original_firstorder"
    assert "original_firstorder_Mean" in disp.groups["original_firstorder"]


def test_importance_bad_inputs_are_named():
    F, y, names, groups = _planted_table(30)
    forest = RandomForestClassifier(n_estimators=5, random_state=0)
    with pytest.raises(ValueError, match="feature_names has 2 names but the features"):
        grouped_permutation_importance(forest, F, y, groups=groups,
                                       feature_names=names[:2])
    with pytest.raises(ValueError, match="features has 30 rows but y 29"):
        grouped_permutation_importance(forest, F, y[:-1], groups=groups)
    with pytest.raises(ValueError, match="grouping must be 'class', 'feature'"):
        feature_groups(names, "family")
    with pytest.raises(ValueError, match="1 feature\\(s\\) are in no group"):
        feature_groups(names[:2], {"a": [names[0]]})
    with pytest.raises(ValueError, match="n_repeats must be a positive integer"):
        grouped_permutation_importance(forest, F, y, groups=groups, n_repeats=0)
    with pytest.raises(ValueError, match="ends with its RadiomicsExtractor"):
        FeatureImportanceDisplay.from_estimator(
            make_pipeline(RadiomicsExtractor()), F, y, groups=groups)
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        FeatureImportanceDisplay([0.1], [0.0], ["a"]).plot(top_k=0)


def test_explain_predictions_writes_one_png_per_sample(blob_net, tmp_path):
    X, _, _ = _blob_crops(5, seed=5)
    # Hostile ids: a path, a dot file, three that clash once made safe.
    ids = ["../escape", ".hidden", "a b", "a_b", "a_b-3"]
    out = tmp_path / "explain"
    index = explain_predictions(blob_net, X, ids=ids, out_dir=out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["explain"]
    files = index["file"].tolist()
    assert files == ["gradcam__._escape.png", "gradcam__hidden.png",
                     "gradcam_a_b.png", "gradcam_a_b-3.png", "gradcam_a_b-3-4.png"]
    assert all((out / name).stat().st_size > 1000 for name in files)
    with open(out / "explanations.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [row["id"] for row in rows] == ids
    proba = blob_net.predict_proba(X).max(axis=1)
    np.testing.assert_allclose([float(r["probability"]) for r in rows], proba,
                               atol=1e-6)
    assert [int(r["predicted"]) for r in rows] == blob_net.predict(X).tolist()
    assert not list(out.glob(".*.tmp"))


def test_explain_predictions_radiomic_model_needs_labels(tmp_path):
    F, y, names, groups = _planted_table(60)
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(F, y)
    with pytest.raises(ValueError, match="needs the labels y of X"):
        explain_predictions(forest, F, out_dir=tmp_path)
    index = explain_predictions(
        forest, F, y=y, groups=groups, out_dir=tmp_path,
        importance={"cv": 3, "feature_names": names, "n_repeats": 2},
    )
    assert set(index["file"]) == {"feature_importance.png"}
    with open(tmp_path / "feature_importance.csv", newline="") as fh:
        first = next(csv.DictReader(fh))
    assert first["group"] == "original_glcm"
    assert first["features"] == (
        "original_glcm_Contrast original_glcm_Idm original_glcm_Energy")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ids": ["a", "a"]}, r"ids must be unique; \['a'\]"),
        ({"ids": ["a"]}, "ids has 1 entries but X has 2 samples"),
        ({"kind": "shap"}, "kind must be 'auto', 'gradcam' or 'importance'"),
    ],
)
def test_explain_predictions_bad_arguments(blob_net, tmp_path, kwargs, match):
    X, _, _ = _blob_crops(2, seed=6)
    with pytest.raises(ValueError, match=match):
        explain_predictions(blob_net, X, out_dir=tmp_path, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_explain_predictions_refuses_a_file_as_folder(blob_net, tmp_path):
    X, _, _ = _blob_crops(2, seed=6)
    target = tmp_path / "taken"
    target.write_text("keep")
    with pytest.raises(ValueError, match="out_dir .*taken' is a file"):
        explain_predictions(blob_net, X, out_dir=target)
    assert target.read_text() == "keep"


def test_gradcam_of_the_fusion_image_branch():
    import pandas as pd
    from sklearn.preprocessing import StandardScaler

    from skradnod.compose import FusionClassifier

    X, y, masks = _blob_crops(8, seed=7)
    frame = pd.DataFrame({"nodule": list(X), "diameter": np.arange(8.0)})
    clf = FusionClassifier(
        [("image", "passthrough", "nodule"),
         ("features", StandardScaler(), ["diameter"])],
        module__image_width=4, max_epochs=1, valid_size=None, random_state=0,
        n_jobs=1,
    ).fit(frame, y)
    cam = grad_cam(clf, frame.iloc[:3])
    # The image branch's last stage before its last pooling (2x2 at 32 px).
    assert cam.layer == "image_branch.stages.4.0"
    assert cam.heatmaps.shape == (3, SIZE, SIZE)
    np.testing.assert_allclose(cam.images, X[:3], atol=1e-6)
    np.testing.assert_allclose(cam.proba, clf.predict_proba(frame.iloc[:3]),
                               atol=1e-6)


def test_importance_without_groups_warns_naming_itself():
    from skradnod.model_selection import UngroupedSplitWarning

    F, y, names, _ = _planted_table(40)
    forest = RandomForestClassifier(n_estimators=5, random_state=0)
    with pytest.warns(UngroupedSplitWarning,
                      match="grouped_permutation_importance: no groups given"):
        grouped_permutation_importance(forest, F, y, groups=None, cv=2,
                                       n_repeats=1)


def test_explain_predictions_takes_a_dense_net_for_a_feature_model(tmp_path):
    # auto: a net without convolutions reads features, so it gets importance.
    F, y, names, groups = _planted_table(40)
    dense = FeatureNetClassifier(max_epochs=1, valid_size=None, random_state=0)
    with pytest.raises(ValueError, match="needs the labels y of X"):
        explain_predictions(dense.fit(F, y), F, out_dir=tmp_path)


def test_gradcam_of_a_located_model_lies_over_its_crop():
    # A located model's classifier reads the crop it cuts around the centre it
    # finds; the heat map must lie over that crop, preprocessed as it was.
    import pandas as pd

    from skradnod.models import LocatedNoduleClassifier, NoduleLocator
    from skradnod.preprocessing import make_ct_preprocessor

    rng = np.random.RandomState(0)
    full = rng.normal(-850, 15, (12, 40, 40)).astype(np.float32)
    full[:, 16:24, 16:24] = 40.0
    frame = pd.DataFrame({"full": list(full),
                          "nodule": [f[14:26, 14:26].copy() for f in full]})
    y = np.arange(12) % 2
    options = {"max_epochs": 1, "valid_size": None, "random_state": 0, "n_jobs": 1}
    window = make_ct_preprocessor(clahe=False, bilateral=False)
    clf = LocatedNoduleClassifier(
        locator=make_pipeline(window, NoduleLocator(module__width=4, **options)),
        classifier=make_pipeline(
            window, NoduleCNNClassifier(module__width=4, **options)),
        crop_size=16,
    ).fit(frame, y)
    cam = grad_cam(clf, frame[["full"]].iloc[:2])
    seen = clf.classifier_[:-1].transform(clf.crop(frame[["full"]].iloc[:2]))
    np.testing.assert_allclose(cam.images, seen, atol=1e-6)
    assert cam.heatmaps.shape == (2, 16, 16)
    np.testing.assert_allclose(cam.proba, clf.predict_proba(frame.iloc[:2]),
                               atol=1e-6)
