"""Result tables, tasks and the size presets of the experiment rows."""

__all__ = ["PRESETS", "TABLES", "TASKS"]

TABLES = {
    "full": "Table 2 - full-slice models",
    "nodule": "Table 3 - nodule-crop models",
}

TASKS = {
    "5class": ("5-class", None),
    "binary": ("Binary (1-3 vs 4-5)", ["benign", "malignant"]),
}

PRESETS = {
    "quick": {
        "rfecv_cv": 2,
        "rfecv_trees": 10,
        "cnn_width": 8,
        "nodule_size": 32,
        "image_chain": "hu",
        "full_size": 64,
        "locator_size": 64,
        "crop_size": 32,
        "max_epochs": 2,
        "batch_size": 32,
        "full_batch_size": 16,
        "n_estimators": 25,
        "selector_preset": "fast",
        "rfecv_step": 0.5,
        "radiomics_image_types": ("Original",),
        "inner_cv": 2,
        "calibration_cv": 2,
        "latent_dim": 16,
        "n_bootstrap": 200,
    },
    "demo": {
        "rfecv_cv": 3,
        "rfecv_trees": 30,
        "cnn_width": 16,
        # 32 px crops and slices: a quarter of the pixels of the method's 64, so
        # the demo's nets train on ~1,000 crops per fold within its budget (on
        # 400 the nodule CNN stays at the majority rate; see the user guide).
        "nodule_size": 32,
        # The nodule nets' crops through the HU window only (no CLAHE or
        # bilateral filter): +3 to +5 points on both renderings of the
        # cohort (docs: "Training recipe"). "method" is the method's chain.
        "image_chain": "hu",
        "full_size": 32,
        "locator_size": 128,
        "crop_size": 64,
        "max_epochs": 30,
        # The method's full-slice rows (basic CNN, autoencoder, centre
        # regression) at 32 px: chance at 30 epochs (full/basic_cnn ROC AUC
        # 0.53 [0.49, 0.57], benchmarks/results/learning.demo.md), so the
        # demo spends its time on the rows that learn.
        "full_max_epochs": 10,
        "batch_size": 32,
        "full_batch_size": 32,
        "n_estimators": 100,
        "selector_preset": "fast",
        "rfecv_step": 0.2,
        "radiomics_image_types": ("Original",),
        "inner_cv": 3,
        "calibration_cv": 5,
        "latent_dim": 32,
        "n_bootstrap": 1000,
    },
    "cpu": {
        "rfecv_cv": 3,
        "rfecv_trees": 100,
        "cnn_width": 16,
        # 32 px crops and 30 epochs (the method: 64, 60), as measured in
        # benchmarks/results/learning.md and the user guide's "Training recipe".
        "nodule_size": 32,
        "image_chain": "hu",
        "full_size": 128,
        "locator_size": 128,
        "crop_size": 64,
        "max_epochs": 30,
        "batch_size": 32,
        "full_batch_size": 16,
        "n_estimators": 300,
        "selector_preset": "fast",
        "rfecv_step": 0.1,
        "radiomics_image_types": ("Original", "Wavelet"),
        "inner_cv": 3,
        "calibration_cv": 5,
        "latent_dim": 64,
        "n_bootstrap": 1000,
    },
    "full": {
        "rfecv_cv": 3,
        "rfecv_trees": 100,
        # Width 16 and batches of 32 (the method: 64) since the learning
        # benchmark (benchmarks/bench_learning.py, docs: "Training recipe").
        "cnn_width": 16,
        "nodule_size": 64,
        "image_chain": "method",
        "full_size": 512,
        "locator_size": 256,
        "crop_size": 64,
        "max_epochs": 60,
        "batch_size": 32,
        "full_batch_size": 16,
        "n_estimators": 300,
        "selector_preset": "thesis",
        "rfecv_step": 1,
        "radiomics_image_types": ("Original", "Wavelet"),
        "inner_cv": 3,
        "calibration_cv": 5,
        "latent_dim": 64,
        "n_bootstrap": 1000,
    },
}
"""Sizes of the rows: ``quick`` (seconds per row, for tests), ``demo`` (the
``skradnod demo`` default, minutes on a laptop CPU), ``cpu`` (the recommended
models at a size a 2-core CPU cross-validates on 2,000 readings in about an
hour: the nodule nets on 32x32 crops with the HU window for 30 epochs,
128x128 slices, Original + Wavelet features, RFECV removing 10 % per round;
what ``benchmarks/bench_learning.py`` measures), ``full`` (the method's
settings: 64x64 crops, 512x512 slices, 60 epochs with early stopping, RFECV
removing one feature per round on Original + Wavelet features; for a GPU).

``image_chain`` is how the nodule nets' crops are prepared: ``"hu"``, the HU
window alone, or ``"method"``, the method's HU window, CLAHE and bilateral
filter (:func:`~skradnod.preprocessing.make_ct_preprocessor`). The method's
full-slice rows, the autoencoder and the transfer rows keep the method's chain
in every preset."""


def _preset(preset):
    if isinstance(preset, dict):
        return {**PRESETS["demo"], **preset}
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; choose one of {sorted(PRESETS)}.")
    return PRESETS[preset]


def _preset_name(preset):
    """How reports name ``preset``: its name, or ``"custom"`` for a dict."""
    return preset if isinstance(preset, str) else "custom"
