"""The row factories: each returns a fresh unfitted estimator for a preset.

Each factory imports what it needs inside, so a missing optional dependency
(torchvision for transfer learning) makes only its own row unavailable.
"""

import os
from pathlib import Path

from ..io import SPACING_COLUMNS
from ._spec import ExperimentUnavailable, _check_params

# The frame column of each crop's pixel spacing (load_nodule_dataset's).
SPACING_COLUMN = SPACING_COLUMNS[1]

# --------------------------------------------------------------------------
# Factories. Each imports what it needs inside, so a missing piece fails only
# its own row. Each takes the whole factory protocol (settings, task, device,
# random_state; see Experiment), also the arguments its model does not use.
# --------------------------------------------------------------------------


def _majority(settings, *, task, device, random_state, **params):
    from sklearn.dummy import DummyClassifier

    _check_params("majority", params, ())
    return DummyClassifier(strategy="most_frequent"), {}


def _semantic_oracle(settings, *, task, device, random_state, **params):
    from sklearn.ensemble import RandomForestClassifier

    _check_params("semantic_oracle", params, ())
    n = settings["n_estimators"]
    model = RandomForestClassifier(
        n_estimators=n, class_weight="balanced", random_state=random_state
    )
    return model, {"features": "8 ratings + diameter_mm", "n_estimators": n}


def _nn_options(settings, device, random_state, *, full=False):
    # The method's full-slice rows may get their own epoch budget (the demo's
    # "full_max_epochs": at its 32 px they are at chance whatever the budget).
    epochs = settings.get("full_max_epochs", settings["max_epochs"]) if full else (
        settings["max_epochs"]
    )
    return {
        "max_epochs": epochs,
        "batch_size": settings["full_batch_size" if full else "batch_size"],
        "device": device,
        "random_state": random_state,
    }


def _crop_chain(settings, size):
    """The preset's chain for the nodule nets' crops (``settings["image_chain"]``)."""
    from ..preprocessing import make_ct_preprocessor

    chain = settings.get("image_chain", "method")
    if chain not in ("hu", "method"):
        raise ValueError(
            f"Preset key 'image_chain' must be 'hu' or 'method'; got {chain!r}."
        )
    method = chain == "method"
    return make_ct_preprocessor(size=size, clahe=method, bilateral=method)


def _basic_cnn(images):
    """The basic CNN row's factory on ``images``: ``"nodule"`` crops or ``"full"``
    slices (their size and batch size come from the preset)."""
    full = images == "full"

    def factory(settings, *, task, device, random_state, **params):
        from sklearn.pipeline import make_pipeline

        from ..models import NoduleCNNClassifier
        from ..preprocessing import make_ct_preprocessor

        _check_params("basic_cnn", params, ())
        size = settings["full_size" if full else "nodule_size"]
        options = _nn_options(settings, device, random_state, full=full)
        width = settings["cnn_width"]
        # The method's full-slice row keeps the method's chain; nodule crops
        # get the preset's.
        chain = make_ct_preprocessor(size=size) if full else _crop_chain(settings, size)
        model = make_pipeline(
            chain, NoduleCNNClassifier(module__width=width, **options)
        )
        shown = {"image_size": size, "cnn_width": width, **_shown(options)}
        if not full:
            shown["image_chain"] = settings.get("image_chain", "method")
        return model, shown

    return factory


def _shown(options):
    return {k: v for k, v in options.items() if k not in ("device", "random_state")}


def _radiomics(settings, memory=None):
    from ..radiomics import RadiomicsExtractor

    image_types = tuple(settings["radiomics_image_types"])
    # Each crop's pixel spacing rides in the frame's nodule_spacing column (read
    # from its file's header), so features are the same from memory and disk.
    extractor = RadiomicsExtractor(
        image_types=image_types, spacing=SPACING_COLUMN, memory=memory
    )
    return extractor, {
        "radiomics_image_types": "+".join(image_types)
    }


def _selector(settings, random_state, classifier=None):
    """The preset's radiomics selection chain, ending with ``classifier`` if given."""
    from sklearn.ensemble import RandomForestClassifier

    from ..feature_selection import make_radiomics_selector

    return make_radiomics_selector(
        preset=settings["selector_preset"],
        step=settings["rfecv_step"],
        cv=settings["rfecv_cv"],
        estimator=RandomForestClassifier(
            n_estimators=settings["rfecv_trees"], random_state=random_state
        ),
        random_state=random_state,
        classifier=classifier,
    )


def _selector_used(settings):
    return {
        "selector": settings["selector_preset"],
        "rfecv_step": settings["rfecv_step"],
        "rfecv_cv": settings["rfecv_cv"],
        "rfecv_trees": settings["rfecv_trees"],
    }


def _feature_candidates(settings, device, random_state):
    """The features row's classifiers (SVM, random forest, NN) and the NN's name."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.svm import SVC

    from ..model_selection import PatientStratifiedKFold

    candidates = [
        # SVC(probability=True) is deprecated in scikit-learn 1.9 in favour of this
        CalibratedClassifierCV(
            SVC(class_weight="balanced", random_state=random_state),
            # ensemble=True: with ensemble=False, scikit-learn (1.9) calls
            # cross_val_predict without routing groups to the CV, so the
            # calibration folds would mix patients. scikit-learn's default 5
            # stratified folds (2 on the quick preset's few samples a class),
            # grouped by patient.
            ensemble=True,
            cv=PatientStratifiedKFold(
                settings["calibration_cv"], name="the SVM's calibration CV"
            ),
        ),
        RandomForestClassifier(
            n_estimators=settings["n_estimators"], class_weight="balanced",
            random_state=random_state,
        ),
    ]
    try:
        from ..models import FeatureNetClassifier

        candidates.append(
            FeatureNetClassifier(**_nn_options(settings, device, random_state))
        )
        nn_name = "FeatureNetClassifier"
    except ImportError:
        from sklearn.neural_network import MLPClassifier

        candidates.append(
            MLPClassifier(
                hidden_layer_sizes=(64, 32),
                max_iter=max(200, 10 * settings["max_epochs"]),
                early_stopping=True,
                random_state=random_state,
            )
        )
        nn_name = "MLPClassifier (skradnod.models.FeatureNetClassifier missing)"
    return candidates, nn_name


def _features(settings, *, task, device, random_state, memory=None, **params):
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    from ..model_selection import PatientStratifiedKFold

    _check_params("features", params, ())
    extractor, used = _radiomics(settings, memory)
    n_trees = settings["n_estimators"]
    candidates, nn_name = _feature_candidates(settings, device, random_state)
    selector = _selector(settings, random_state, candidates[0])
    # The thesis picked the best of SVM / RF / NN on the features; an inner,
    # stratified, patient-grouped CV on each outer training fold does the same
    # without looking at the outer test fold. Extraction sits outside the
    # search: it depends on the image alone, so the search refits only
    # selection and classifier.
    search = GridSearchCV(
        selector,
        {"clf": candidates},
        cv=PatientStratifiedKFold(
            settings["inner_cv"],
            shuffle=True,
            random_state=random_state,
            name="the features row's model search",
        ),
        scoring="balanced_accuracy",
        error_score="raise",
    )
    model = make_pipeline(extractor, search)
    return model, {
        **used,
        **_selector_used(settings),
        "candidates": f"SVC | RandomForest({n_trees}) | {nn_name}",
        "inner_cv": settings["inner_cv"],
        "max_epochs": settings["max_epochs"],
    }


def _features_images(settings, *, task, device, random_state, memory=None, **params):
    from imblearn.pipeline import make_pipeline

    from ..compose import FusionClassifier
    from ..nn import FusionNet

    _check_params("features_images", params, ())
    extractor, used = _radiomics(settings, memory)
    selector = _selector(settings, random_state)
    size = settings["nodule_size"]
    # FusionNet's image branch is half as wide as the basic CNN by default
    width = max(2, settings["cnn_width"] // 2)
    options = _nn_options(settings, device, random_state)
    model = FusionClassifier(
        transformers=[
            ("image", _crop_chain(settings, size), "nodule"),
            ("features", make_pipeline(extractor, selector),
             ["nodule", SPACING_COLUMN]),
        ],
        module=FusionNet,
        module__image_width=width,
        **options,
    )
    return model, {
        "image_size": size,
        "image_chain": settings.get("image_chain", "method"),
        "image_width": width,
        **used,
        **_selector_used(settings),
        **_shown(options),
    }


# The autoencoder row's regularisation grid: from a penalty strong enough that
# the classifier returns the training prior, to nearly none. Capped at 100, where
# lbfgs still converges on standardised latent vectors.
_LATENT_CS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


def _latent_classifier(settings, random_state):
    """The autoencoder row's classifier of the latent vectors.

    Unweighted classes and a penalty chosen by log-loss, on purpose. The latent
    space is learnt to reconstruct the image, not to separate the classes, and
    may carry no signal at all. ``class_weight="balanced"`` then pushes the
    predictions to the rare classes: 17.5 % 5-class accuracy in the demo, where
    the majority class is 38 %. A fixed, weak penalty fits the noise instead
    (about 33 % on random 32-d vectors; ``tests/test_experiments_chance.py``).
    Choosing C by the log-loss (a proper score, minimised by the prior when
    nothing is learnable) on an inner patient-grouped CV makes an uninformative
    embedding fall back to the class frequencies, i.e. the majority rate, and
    keeps the C that ranks best when there is signal. Whether the rare classes
    are found shows in the balanced accuracy and ROC AUC the report gives.
    """
    from sklearn.linear_model import LogisticRegressionCV

    from ..model_selection import PatientStratifiedKFold

    return LogisticRegressionCV(
        Cs=list(_LATENT_CS),
        l1_ratios=(0.0,),
        cv=PatientStratifiedKFold(
            settings["inner_cv"],
            shuffle=True,
            random_state=random_state,
            name="the autoencoder row's regularisation search",
        ),
        scoring="neg_log_loss",
        class_weight=None,
        max_iter=1000,
        use_legacy_attributes=False,
    )


def _autoencoder(settings, *, task, device, random_state, **params):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ..models import AutoencoderEmbedding
    from ..preprocessing import make_ct_preprocessor

    _check_params("autoencoder", params, ())
    size = settings["full_size"]
    options = _nn_options(settings, device, random_state, full=True)
    latent = settings["latent_dim"]
    model = make_pipeline(
        make_ct_preprocessor(size=size),
        AutoencoderEmbedding(latent_dim=latent, **options),
        StandardScaler(),
        _latent_classifier(settings, random_state),
    )
    return model, {
        "image_size": size,
        "latent_dim": latent,
        "classifier": (
            "LogisticRegressionCV on the latent space (classes unweighted, C "
            f"by log-loss in {settings['inner_cv']} patient-grouped folds)"
        ),
        **_shown(options),
    }


def _center_regression(
    settings,
    *,
    task,
    device,
    random_state,
    backbone="nodule_cnn",
    weights=None,
    **params,
):
    from ..models import CenterRegressionClassifier
    from ..preprocessing import make_ct_preprocessor

    _check_params("center_regression", params, ("backbone", "weights"))
    if weights is not None and not Path(weights).is_file():
        raise ExperimentUnavailable(
            f"weights not available: no file at {os.fspath(weights)!r}"
        )
    size = settings["full_size"]
    options = _nn_options(settings, device, random_state, full=True)
    model = CenterRegressionClassifier(
        backbone=backbone,
        weights=None if weights is None else os.fspath(weights),
        preprocessor=make_ct_preprocessor(size=size),
        **options,
    )
    return model, {
        "backbone": backbone,
        "weights": "none (random init)" if weights is None else Path(weights).name,
        "image_size": size,
        **_shown(options),
    }


def _located_cnn(settings, *, task, device, random_state, **params):
    from sklearn.pipeline import make_pipeline

    from ..models import LocatedNoduleClassifier, NoduleCNNClassifier, NoduleLocator
    from ..preprocessing import make_ct_preprocessor

    _check_params("located_cnn", params, ())
    locator_size, size = settings["locator_size"], settings["nodule_size"]
    width = settings["cnn_width"]
    locator_width = max(4, width // 2)
    # The nodule rows' budget: unlike the method's full-slice rows, this one
    # learns (benchmarks/results/learning.demo.md).
    options = _nn_options(settings, device, random_state)
    model = LocatedNoduleClassifier(
        # The HU window alone for the locator: CLAHE equalises away the
        # contrast between a nodule and the lung around it.
        locator=make_pipeline(
            make_ct_preprocessor(size=locator_size, clahe=False, bilateral=False),
            NoduleLocator(module__width=locator_width, **options),
        ),
        classifier=make_pipeline(
            _crop_chain(settings, size),
            NoduleCNNClassifier(module__width=width, **options),
        ),
        crop_size=settings["crop_size"],
    )
    return model, {
        "locator_size": locator_size,
        "locator_width": locator_width,
        "crop_size": settings["crop_size"],
        "image_size": size,
        "image_chain": settings.get("image_chain", "method"),
        "cnn_width": width,
        **_shown(options),
    }


def _transfer(source):
    def factory(
        settings,
        *,
        task,
        device,
        random_state,
        backbone="resnet50",
        weights=None,
        **params,
    ):
        _check_params(f"transfer_{source}", params, ("backbone", "weights"))
        # torchvision/timm would download ImageNet weights; skradnod never
        # downloads, so both rows read a local state-dict file.
        if weights is None:
            raise ExperimentUnavailable(
                f"{_WEIGHT_NAMES[source]} weights not available: skradnod never "
                "downloads weights; pass a state-dict file (CLI: "
                f"--{source}-weights FILE)"
            )
        if not Path(weights).is_file():
            raise ExperimentUnavailable(
                f"{_WEIGHT_NAMES[source]} weights not available: no file at "
                f"{os.fspath(weights)!r}"
            )
        from sklearn.pipeline import make_pipeline

        from ..models import TransferClassifier
        from ..preprocessing import make_ct_preprocessor

        size = settings["full_size"]
        options = _nn_options(settings, device, random_state, full=True)
        model = make_pipeline(
            make_ct_preprocessor(size=size),
            TransferClassifier(
                backbone=backbone, weights=os.fspath(weights), **options
            ),
        )
        return model, {
            "backbone": backbone,
            "weights": Path(weights).name,
            "image_size": size,
            **_shown(options),
        }

    return factory


_WEIGHT_NAMES = {"imagenet": "ImageNet", "radimagenet": "RadImageNet"}
