"""Do the nets learn? Every model of Table 3 on the same patient-grouped splits.

Trains, on exactly the same folds of ``make_lidc_cohort`` readings, the rows
users compare:

- ``majority``: the most frequent training class;
- ``semantic_oracle``: a random forest on the radiologists' eight other ratings
  and the contour diameter (reads their answers: the cohort's ceiling);
- ``radiomic_rf``: pyradiomics features (all of them) + a class-balanced random
  forest;
- ``radiomic_gbm`` (a peer model, needs ``lightgbm``: the ``bench`` extra):
  the same features + LightGBM with its defaults (class-balanced);
- ``features``, ``basic_cnn``, ``features_images``: the recommended rows,
  exactly as ``get_experiment("nodule/<row>").build(preset=...)`` returns them;
- ``vote_rf_cnn``: late fusion, the mean of ``radiomic_rf``'s and
  ``basic_cnn``'s probabilities (:class:`~sklearn.ensemble.VotingClassifier`,
  soft, equal weights), each fitted on the training fold as its own row;
- variants of the nets (``--variants``), each a row key plus parameter
  overrides, e.g. ``basic_cnn:nodulecnnclassifier__class_weight=None``;
  ``preset.KEY=VALUE`` entries override the row's preset instead, e.g.
  ``basic_cnn:preset.image_chain="method"`` (:data:`OLD_DEFAULT` is the nodule
  CNN as the ``cpu`` preset had it before issue 17, the fit-time goal's
  reference).

Every row sees the same outer folds (``StratifiedGroupKFold``, seeded), and
receives the training patients for its own inner splits (early stopping, RFECV,
inner searches). The first table reports 5-class accuracy, balanced accuracy and
binary accuracy (benign 1-3 vs malignant 4-5, from the 5-class probabilities:
malignant when P(4) + P(5) >= 0.5), each pooled over the out-of-fold
predictions with a 95 % interval from 1,000 bootstrap resamples of patients,
plus fit seconds per fold and the epochs the nets ran. The second has the
literature's metrics (:data:`skradnod.evaluation.LITERATURE_METRICS`:
within-one accuracy, MAE, quadratic-weighted kappa, AUC with score 3 benign,
binary accuracy and AUC with score 3 excluded, 3-class accuracy), computed by
:func:`skradnod.evaluation.report_from_predictions` like every report. When
the data carry the readers' ratings (``malignancy_readers``), both tables end
with the radiologists' reference row
(:func:`skradnod.evaluation.reader_agreement`).

The data are the built-in cohort (``--n`` readings, or with ``--level nodule``
the per-nodule cohort, all 2,653 nodules unless ``--n``), or with ``--data
DIR`` any data set folder :func:`skradnod.io.load_nodule_dataset` reads;
rows whose input the data lack (``semantic_oracle`` needs the ratings) are
skipped and listed. The tables name the data.

It then checks the goals of issue 17 (for the rows present) and records each
shortfall; it always exits 0, so it stays a measurement.

Usage: python benchmarks/bench_learning.py [--n 2000] [--level annotation]
       [--data DIR] [--folds 5] [--preset NAME] [--rows ROW ...]
       [--variants ROW:PARAM=VALUE,... ...] [--device cpu] [--n-jobs 2]
       [--seed 0] [--n-bootstrap 1000] [--name learning] [--results DIR]
       [--add]

``--add`` adds this run's rows to an earlier ``<name>.json`` of the same data,
folds, seed and preset (rows of the same name are replaced), so that a slow
row (the MONAI peers) joins a table without refitting the others; the rows
are deterministic for a given seed and folds, so the table is the one a
single run would give, except for the fit times, which come from two runs
(both commands are recorded).

``--folds 1`` is one 80/20 split (the first fold of a 5-fold split). A quick
check of the script itself (seconds): ``--n 60 --folds 2 --rows majority
--n-bootstrap 20 --results /tmp/bench``.
"""

import argparse
import ast
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
# The frame column of each crop's pixel spacing (load_nodule_dataset's;
# skradnod.io.SPACING_COLUMNS, imported lazily like the rest of skradnod here).
SPACING = "nodule_spacing"
CACHE = Path(
    os.environ.get("SKRADNOD_BENCH_CACHE", Path.home() / ".cache" / "skradnod")
)
DEFAULT_ROWS = [
    "majority",
    "semantic_oracle",
    "radiomic_rf",
    "features",
    "basic_cnn",
    "features_images",
]
METRICS = ("accuracy", "balanced_accuracy", "binary_accuracy")


def _jsonable(obj):
    from skradnod.evaluation._report import _jsonable as convert

    return convert(obj)


def parse_variant(text):
    """``"row:a=1,b=None"`` -> ``("row", {"a": 1, "b": None})``."""
    row, _, spec = text.partition(":")
    params = {}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
    return row, params


def build_row(row, preset, seed, device, memory):
    """Return ``(estimator, input kind)`` for a base row name."""
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline

    from skradnod.experiments import get_experiment
    from skradnod.radiomics import RadiomicsExtractor

    if row == "majority":
        return DummyClassifier(strategy="most_frequent"), "none"
    if row == "radiomic_gbm":
        # A peer model (the bench extra): what a user without skradnod's
        # selection chain would fit on pyradiomics features, with LightGBM's
        # defaults except class balancing, one thread (folds run in parallel)
        # and a seed. Same features and folds as radiomic_rf.
        try:
            from lightgbm import LGBMClassifier
        except ImportError as exc:
            raise SystemExit(
                "radiomic_gbm needs lightgbm: pip install -e '.[bench]'"
            ) from exc

        extractor = RadiomicsExtractor(spacing=SPACING, memory=memory, n_jobs=1)
        gbm = LGBMClassifier(
            class_weight="balanced", random_state=seed, n_jobs=1, verbose=-1
        )
        return make_pipeline(extractor, gbm), "nodule+spacing"
    if row.startswith("monai_"):
        return _monai_row(row.removeprefix("monai_"), preset, seed)
    if row == "radiomic_rf":
        # The method's whole extractor (Original + Wavelet), whatever the preset:
        # the reference the nets must reach.
        # Each crop at its file's pixel spacing (the frame's column), as the
        # features row reads it.
        extractor = RadiomicsExtractor(spacing=SPACING, memory=memory, n_jobs=1)
        forest = RandomForestClassifier(
            n_estimators=300, class_weight="balanced", random_state=seed, n_jobs=1
        )
        return make_pipeline(extractor, forest), "nodule+spacing"
    if row == "vote_rf_cnn":
        # Late fusion of image and features: the mean of radiomic_rf's and the
        # basic CNN's probabilities (equal weights: nothing tuned), each member
        # fitted on the training fold exactly as its own row is.
        from operator import itemgetter

        from sklearn.ensemble import VotingClassifier
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import FunctionTransformer

        forest, _ = build_row("radiomic_rf", preset, seed, device, memory)
        cnn, _ = build_row("basic_cnn", preset, seed, device, memory)
        # Both members read the crops-and-spacing frame; the CNN its crops.
        crops = FunctionTransformer(itemgetter("nodule"))
        members = [("radiomic_rf", forest),
                   ("basic_cnn", Pipeline([("crops", crops), ("cnn", cnn)]))]
        return VotingClassifier(members, voting="soft"), "nodule+spacing"
    # A bare name is a Table 3 row; "full/<row>" (e.g. full/located_cnn) any other.
    spec = get_experiment(row if "/" in row else f"nodule/{row}")
    extra = {"memory": memory} if row in ("features", "features_images") else {}
    estimator, _ = spec.build(
        preset=preset, task="5class", device=device, random_state=seed, **extra
    )
    return estimator, spec.input


def _monai_row(network, preset, seed):
    """A MONAI peer (the bench extra), at the preset's crop size, routed groups."""
    import sklearn

    from skradnod.experiments._presets import _preset

    if importlib.util.find_spec("monai") is None:
        raise SystemExit(f"monai_{network} needs monai: pip install -e '.[bench]'")
    # Beside this script, not part of skradnod: imported by path so that the
    # benchmark also works when it is itself imported by path (the tests).
    spec = importlib.util.spec_from_file_location(
        "monai_peer", Path(__file__).with_name("monai_peer.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    MonaiPeerClassifier = module.MonaiPeerClassifier
    settings = _preset(preset)
    peer = MonaiPeerClassifier(network=network, size=settings["nodule_size"],
                               random_state=seed)
    with sklearn.config_context(enable_metadata_routing=True):
        peer.set_fit_request(groups=True)
    return peer, "nodule"


def row_input(data, kind):
    from skradnod.experiments import RATING_COLUMNS as RATINGS

    if kind == "none":
        return np.zeros((len(data.target), 1))
    if kind == "ratings":
        return data.frame[[*RATINGS, "diameter_mm"]].to_numpy(dtype=float)
    if kind == "frame":
        return data.frame
    if kind == "nodule+spacing":
        return data.frame[["nodule", SPACING]]
    return data.frame[kind]


def epochs_run(estimator):
    """Epochs the (last) net of a fitted estimator ran, or None."""
    steps = getattr(estimator, "steps", None)
    if steps:
        return epochs_run(steps[-1][1])
    history = getattr(estimator, "history_", None)
    return None if history is None else len(history)


def fit_fold(estimator, X, y, groups, train, test):
    """Fit a clone on one training fold; out-of-fold probabilities for 1-5."""
    import sklearn
    from sklearn.base import clone
    from sklearn.utils import _safe_indexing
    from sklearn.utils.metadata_routing import get_routing_for_object

    model = clone(estimator)
    # The training patients reach every inner split (early stopping, RFECV,
    # inner searches) through scikit-learn's metadata routing.
    with sklearn.config_context(enable_metadata_routing=True):
        routed = get_routing_for_object(model).consumes("fit", ["groups"])
        fit_params = {"groups": groups[train]} if routed else {}
        start = time.perf_counter()
        model.fit(_safe_indexing(X, train), y[train], **fit_params)
        fit_s = time.perf_counter() - start
        proba = model.predict_proba(_safe_indexing(X, test))
    full = np.zeros((len(test), 5))
    full[:, np.searchsorted(np.arange(1, 6), model.classes_)] = proba
    out = {"proba": full, "fit_s": fit_s, "epochs": epochs_run(model)}
    if hasattr(model, "center_error"):  # a located row: its held-out centre error
        out["center_error_px"] = model.center_error(_safe_indexing(X, test))
    return out


def summarise(y, groups, proba, fold, n_bootstrap, seed):
    """Pooled metrics and patient-bootstrap intervals of out-of-fold 1-5 probabilities.

    Every metric of :data:`skradnod.evaluation.METRICS`, as the reports compute
    them; ``binary_accuracy`` is ``benign_accuracy`` (score 3 benign, malignant
    when P(4) + P(5) >= 0.5), under the name the goals use.
    """
    from skradnod.evaluation import report_from_predictions

    pred = proba.argmax(1) + 1
    report = report_from_predictions(
        y, pred, proba, fold, classes=np.arange(1, 6), groups=groups,
        n_bootstrap=n_bootstrap, random_state=seed,
    )
    point = dict(report.metrics, binary_accuracy=report.metrics["benign_accuracy"])
    ci = {m: list(v) for m, v in report.ci.items()}
    ci["binary_accuracy"] = ci["benign_accuracy"]
    return point, ci, np.bincount(pred, minlength=6)[1:].tolist()


def radiologists(data, groups, n_bootstrap, seed):
    """The readers' agreement (a dict) when the data carry their ratings, else None."""
    from skradnod.evaluation import reader_agreement

    frame = data.frame
    if "malignancy_readers" not in frame.columns:
        return None
    agreement = reader_agreement(
        frame["malignancy_readers"],
        nodules=frame["nodule_id"] if "nodule_id" in frame.columns else None,
        groups=groups, ids=frame.index, n_bootstrap=n_bootstrap, random_state=seed,
    )
    return agreement.to_dict()


# The nodule CNN as the cpu preset had it before issue 17 (the method's chain,
# 64 px crops, 60 epochs): run it as this variant for the fit-time goal's ratio.
OLD_DEFAULT = (
    'basic_cnn:preset.image_chain="method",preset.nodule_size=64,'
    "preset.max_epochs=60"
)


def check_goals(results):
    """Issue 17's goals, as (goal, met, detail) dicts, for the rows present."""
    by = {r["row"]: r for r in results}

    def m(row, metric):
        return by[row]["metrics"][metric]

    goals = []
    if {"radiomic_rf", "basic_cnn"} <= by.keys():
        goals.append(("NoduleCNN 5-class >= radiomic forest - 1 point",
                      m("basic_cnn", "accuracy") >= m("radiomic_rf", "accuracy") - 0.01,
                      f"{m('basic_cnn', 'accuracy'):.3f} vs "
                      f"{m('radiomic_rf', 'accuracy') - 0.01:.3f}"))
    for row, label in (("features_images", "Fusion"),
                       ("vote_rf_cnn", "Late fusion (vote_rf_cnn)")):
        if {"radiomic_rf", row} <= by.keys():
            fusion, rf = by[row]["metrics"], by["radiomic_rf"]["metrics"]
            goals.append((f"{label} 5-class >= radiomic forest + 2 points",
                          fusion["accuracy"] >= rf["accuracy"] + 0.02,
                          f"{fusion['accuracy']:.3f} vs {rf['accuracy'] + 0.02:.3f}"))
            goals.append((f"{label} binary AUC (3 benign) >= radiomic forest's",
                          fusion["benign_auc"] >= rf["benign_auc"],
                          f"{fusion['benign_auc']:.3f} vs {rf['benign_auc']:.3f}"))
    for net in ("basic_cnn", "features_images"):
        if {"radiomic_rf", net} <= by.keys():
            goals.append((f"{net} balanced accuracy >= radiomic forest's",
                          m(net, "balanced_accuracy")
                          >= m("radiomic_rf", "balanced_accuracy"),
                          f"{m(net, 'balanced_accuracy'):.3f} vs "
                          f"{m('radiomic_rf', 'balanced_accuracy'):.3f}"))
    located = "full/located_cnn"
    if {"majority", located} <= by.keys():
        error = by[located].get("center_error_px", {}).get("median", float("nan"))
        goals.append(("full/located_cnn 5-class >= majority + 5 points",
                      m(located, "accuracy") >= m("majority", "accuracy") + 0.05,
                      f"{m(located, 'accuracy'):.3f} vs "
                      f"{m('majority', 'accuracy') + 0.05:.3f}; "
                      f"median centre error {error:.1f} px"))
        goals.append(("full/located_cnn ROC AUC >= 0.70",
                      m(located, "roc_auc") >= 0.70, f"{m(located, 'roc_auc'):.3f}"))
    if {"basic_cnn", OLD_DEFAULT} <= by.keys():
        new, old = (float(np.mean(by[r]["fit_s"])) for r in ("basic_cnn", OLD_DEFAULT))
        goals.append(("NoduleCNN fit <= 1/3 of the old default's, same run",
                      new <= old / 3, f"{new:.0f} s vs {old:.0f} s per fold "
                      f"(ratio {new / old:.2f})"))
    return [{"goal": g, "met": bool(ok), "detail": d} for g, ok, d in goals]


LITERATURE = (
    ("within_one", "within ±1"), ("mae", "MAE"), ("qwk", "QWK"),
    ("benign_auc", "AUC (3 benign)"), ("excluded_accuracy", "binary acc (3 excl.)"),
    ("excluded_auc", "AUC (3 excl.)"), ("three_class_accuracy", "3-class acc"),
)


def _cell(metrics, ci, m):
    value = metrics.get(m)
    if value is None or not np.isfinite(value):
        return "-"
    low, high = ci.get(m, (None, None))
    scale, fmt = (1, "{:.2f}") if m in ("mae", "qwk", "fleiss_kappa") else (
        100, "{:.1f}")
    text = fmt.format(scale * value)
    if low is None or not np.isfinite(low):
        return text
    return f"{text} [{fmt.format(scale * low)}, {fmt.format(scale * high)}]"


def markdown(context, results, goals, reference=None):
    lines = [
        # Rows added by --add: the commands are joined by "; then ".
        "Command: `" + context["command"].replace("; then ", "`, then `") + "`",
        "",
        f"{context['data']}; {context['split']}; preset `{context['preset']}`; "
        f"{context['machine']}; wall {context['wall_s']:.0f} s.",
        "",
        "| row | 5-class acc | balanced acc | binary acc | fit s / fold | epochs |",
        "|---|---|---|---|---:|---:|",
    ]
    for r in results:
        cells = [_cell(r["metrics"], r["ci"], m) for m in METRICS]
        epochs = r["epochs"]
        epochs = "-" if not epochs else "/".join(str(e) for e in epochs)
        lines.append(
            f"| {r['row']} | {' | '.join(cells)} | {np.mean(r['fit_s']):.1f} "
            f"| {epochs} |"
        )
    if reference is not None:
        m, ci = reference["metrics"], reference["ci95"]
        lines.append(
            f"| radiologists (reference) | {_cell(m, ci, 'accuracy')} | - | "
            f"{_cell(m, ci, 'benign_accuracy')} | - | - |"
        )
    lines += [
        "",
        "Literature metrics (5-class models; binary from P(4) + P(5) >= 0.5):",
        "",
        "| row | " + " | ".join(h for _, h in LITERATURE) + " |",
        "|---|" + "---|" * len(LITERATURE),
    ]
    for r in results:
        cells = [_cell(r["metrics"], r["ci"], m) for m, _ in LITERATURE]
        lines.append(f"| {r['row']} | {' | '.join(cells)} |")
    if reference is not None:
        m, ci = reference["metrics"], reference["ci95"]
        cells = [_cell(m, ci, k) for k, _ in LITERATURE]
        lines.append(f"| radiologists (reference) | {' | '.join(cells)} |")
        lines += [
            "",
            f"Radiologists: each of the {reference['n_readings']} readings of the "
            f"{reference['n_nodules']} nodules read by two or more radiologists "
            f"against the {reference['rule']}; Fleiss' kappa "
            f"{_cell(m, ci, 'fleiss_kappa')}. A reference, not a model.",
        ]
    located = [r for r in results if "center_error_px" in r]
    if located:
        lines += [
            "",
            "Centre error of the located rows on held-out patients (pixels of "
            "the 512 px slice, to the template-matched centre):",
            "",
            "| row | median | 90th percentile | within 16 px |",
            "|---|---:|---:|---:|",
        ]
        for r in located:
            e = r["center_error_px"]
            lines.append(f"| {r['row']} | {e['median']:.1f} | {e['q90']:.1f} | "
                         f"{100 * e['within_16px']:.1f} % |")
    if context.get("skipped"):
        lines += ["", "Rows skipped: " + "; ".join(context["skipped"]) + "."]
    if goals:
        lines += ["", "| goal (issue 17) | met | measured |", "|---|---|---|"]
        lines += [
            f"| {g['goal']} | {'yes' if g['met'] else '**no**'} | {g['detail']} |"
            for g in goals
        ]
    return "\n".join(lines) + "\n"


def load_data(args):
    """The data set and the words that name it in the tables."""
    if args.data is not None:
        from skradnod.io import load_nodule_dataset

        data = load_nodule_dataset(args.data)
        return data, f"load_nodule_dataset({os.fspath(args.data)!r})"
    from skradnod.datasets import make_lidc_cohort

    n = args.n if args.n is not None else (2000 if args.level == "annotation" else None)
    data = make_lidc_cohort(
        n_samples=n, level=args.level, random_state=args.seed, n_jobs=2,
        variant=args.variant,
    )
    return data, (f"make_lidc_cohort(n_samples={n}, level={args.level!r}, "
                  f"random_state={args.seed}, variant={args.variant!r})")


def missing_input(data, kind):
    """Why ``data`` cannot feed a row reading ``kind``, or None."""
    from skradnod.experiments import RATING_COLUMNS as RATINGS

    if kind == "ratings":
        missing = [c for c in (*RATINGS, "diameter_mm") if c not in data.frame]
        if missing:
            return f"the data has no column(s) {missing}"
    return None


def added_to(path, context, results):
    """The earlier record at ``path`` with this run's rows added (``--add``).

    The earlier run must have read the same data with the same folds, seed and
    preset, or the rows would not be comparable: anything else stops the run
    naming what differs. A row of the same name is replaced.
    """
    if not path.is_file():
        raise SystemExit(f"--add: there is no earlier {path}")
    earlier = json.loads(path.read_text())
    before = earlier["context"]
    # Records made before the seed was recorded all used the default seed.
    before = {"seed": 0, **before}
    for key in ("data", "split", "preset", "seed"):
        if before[key] != context[key]:
            raise SystemExit(f"--add: {path} was made with other {key} "
                             f"({before[key]!r}, now {context[key]!r})")
    # A replaced row keeps its place; new rows follow the earlier ones.
    new = {r["row"]: r for r in results}
    merged = [new.pop(r["row"], r) for r in earlier["results"]] + list(new.values())
    context = {
        **context,
        "command": f"{before['command']}; then {context['command']}",
        "machine": f"{before['machine']}; then {context['machine']}",
        "wall_s": before["wall_s"] + context["wall_s"],
        "skipped": [*before.get("skipped", []), *context["skipped"]],
    }
    return context, merged


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=None,
                        help="samples of the built-in cohort (default: 2000 "
                        "readings; with --level nodule all 2,653 nodules)")
    parser.add_argument("--level", choices=("annotation", "nodule"),
                        default="annotation", help="the built-in cohort's level")
    parser.add_argument("--variant", choices=("a", "b"), default="a",
                        help="the built-in cohort's rendering (make_lidc_cohort's "
                        "variant; default a)")
    parser.add_argument("--data", type=Path, default=None,
                        help="a data set folder (load_nodule_dataset) instead of "
                        "the built-in cohort")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--rows", nargs="*", default=DEFAULT_ROWS)
    parser.add_argument("--variants", nargs="*", default=[])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n-jobs", type=int, default=2, help="folds in parallel")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    parser.add_argument("--name", default="learning")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="folder of <name>.md and <name>.json")
    parser.add_argument("--add", action="store_true",
                        help="add the rows to the earlier <name>.json of the "
                        "same data, folds, seed and preset")
    args = parser.parse_args(argv)
    if args.data is not None and (args.n is not None or args.level != "annotation"
                                  or args.variant != "a"):
        parser.error("--n, --level and --variant choose the built-in cohort; "
                     "--data reads its folder as it is")
    if args.preset.startswith("{"):
        # A preset as JSON: entries override the "demo" preset (ablations).
        args.preset = json.loads(args.preset)

    import torch
    from joblib import Memory, Parallel, delayed
    from sklearn.model_selection import StratifiedGroupKFold

    from skradnod.experiments._presets import _preset

    torch.set_num_threads(1 if args.n_jobs > 1 else torch.get_num_threads())
    start = time.perf_counter()
    data, data_name = load_data(args)
    y = np.asarray(data.target)
    grouped = data.groups is not None
    # Without patient ids each sample is its own group (and the split says so).
    groups = np.asarray(data.groups) if grouped else np.asarray(data.ids)
    cv = StratifiedGroupKFold(max(args.folds, 5) if args.folds == 1 else args.folds,
                              shuffle=True, random_state=args.seed)
    splits = list(cv.split(np.zeros(len(y)), y, groups))[: args.folds]
    tested = np.concatenate([test for _, test in splits])
    fold_of = np.full(len(y), -1)
    for k, (_, test) in enumerate(splits):
        fold_of[test] = k
    memory = Memory(CACHE / "radiomics", verbose=0)
    reference = radiologists(
        data, groups if grouped else None, args.n_bootstrap, args.seed
    )
    skipped = []

    jobs = [(row, row, {}) for row in args.rows]
    for text in args.variants:
        base, params = parse_variant(text)
        jobs.append((text, base, params))
    results = []
    for name, base, params in jobs:
        # "preset.KEY=VALUE" entries of a variant override the row's preset.
        overrides = {k.removeprefix("preset."): params.pop(k)
                     for k in [k for k in params if k.startswith("preset.")]}
        preset = {**_preset(args.preset), **overrides} if overrides else args.preset
        estimator, kind = build_row(base, preset, args.seed, args.device, memory)
        reason = missing_input(data, kind)
        if reason:
            skipped.append(f"{name} ({reason})")
            print(f"    skipped {name}: {reason}", file=sys.stderr, flush=True)
            continue
        if params:
            estimator.set_params(**params)
        X = row_input(data, kind)
        print(f"[{time.perf_counter() - start:6.0f} s] {name}: {len(splits)} fold(s)",
              file=sys.stderr, flush=True)
        folds = Parallel(n_jobs=min(args.n_jobs, len(splits)))(
            delayed(fit_fold)(estimator, X, y, groups, tr, te)
            for tr, te in splits
        )
        proba = np.zeros((len(y), 5))
        for (_, te), fold in zip(splits, folds):
            proba[te] = fold["proba"]
        point, ci, counts = summarise(
            y[tested], groups[tested] if grouped else None, proba[tested],
            fold_of[tested], args.n_bootstrap, args.seed,
        )
        results.append({
            "row": name, "metrics": point, "ci": ci, "predicted_counts": counts,
            "fit_s": [f["fit_s"] for f in folds],
            "epochs": [f["epochs"] for f in folds if f["epochs"] is not None],
        })
        if all("center_error_px" in f for f in folds):
            error = np.concatenate([f["center_error_px"] for f in folds])
            results[-1]["center_error_px"] = {
                "median": float(np.median(error)),
                "q90": float(np.quantile(error, 0.9)),
                "within_16px": float(np.mean(error < 16)),
            }
        r = results[-1]
        print(f"    acc {point['accuracy']:.3f} bal {point['balanced_accuracy']:.3f} "
              f"bin {point['binary_accuracy']:.3f} fit {np.mean(r['fit_s']):.0f} s "
              f"epochs {r['epochs']}", file=sys.stderr, flush=True)

    goals = check_goals(results)
    context = {
        "command": "python benchmarks/bench_learning.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "data": f"{data_name}: {len(y)} samples"
        + (f" of {len(np.unique(groups))} patients" if grouped else
           " (no patient ids: folds not grouped by patient)")
        + f", {len(tested)} predicted out of fold",
        "rendering": None if args.data is not None else args.variant,
        "split": ("one patient-grouped 80/20 split" if args.folds == 1 else
                  f"{args.folds}-fold StratifiedGroupKFold"),
        "skipped": skipped,
        "preset": args.preset if isinstance(args.preset, str) else
        json.dumps(args.preset),
        "machine": f"{os.cpu_count()} CPU cores, device {args.device}, "
        f"load {os.getloadavg()[0]:.1f} at the end",
        "wall_s": time.perf_counter() - start,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "class_counts": np.bincount(y[tested], minlength=6)[1:].tolist(),
        "seed": args.seed,
    }
    if args.add:
        context, results = added_to(args.results / f"{args.name}.json",
                                    context, results)
        goals = check_goals(results)
    args.results.mkdir(parents=True, exist_ok=True)
    record = {"context": context, "results": results, "goals": goals,
              "radiologists": reference}
    (args.results / f"{args.name}.json").write_text(
        json.dumps(_jsonable(record), indent=1) + "\n"
    )
    table = markdown(context, results, goals, reference)
    (args.results / f"{args.name}.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
