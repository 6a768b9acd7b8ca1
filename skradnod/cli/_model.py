"""``skradnod fit`` and ``skradnod predict``: keep a model, use it on new patients."""

import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

from ._common import UserError
from ._data import unused_files_as_one_line
from ._experiments import _check_cv_fits, _check_device, _set_threads

MODEL_SUFFIX = ".skradnod"


def _check_writable(path, option):
    """Create ``path``'s folder and check a file can be written there."""
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{option} {path}: {folder} is a file, not a folder.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UserError(
            f"{option} {path}: cannot write in {folder} ({exc.strerror or exc}); "
            "name a file in a folder you can write to."
        ) from None


def _model_outputs(out, overwrite):
    """The model file and its two cards, checked before any training."""
    from ..experiments import card_paths, fit_report_path

    path = Path(out)
    if path.suffix != MODEL_SUFFIX:
        raise UserError(
            f"--out {out}: a model file's name ends in {MODEL_SUFFIX} (e.g. "
            f"{path.with_suffix(MODEL_SUFFIX).name}); its cards go beside it."
        )
    if path.is_dir():
        raise UserError(f"--out {out} is a folder; name the model file to write.")
    outputs = [path, *card_paths(path), fit_report_path(path)]
    existing = [os.fspath(p) for p in outputs if p.exists()]
    if existing and not overwrite:
        raise UserError(
            f"--out {out}: {', '.join(existing)} already exist(s); pass "
            "--overwrite to replace the model and its cards, or name another file."
        )
    _check_writable(path, "--out")
    return path


def _save_verified(estimator, path, card, key):
    """Write the model, load it back, and only then put it at ``path``.

    A model whose file :func:`~skradnod.load_model` would refuse (a type
    outside the allowlist) is an error now, not when someone tries to use it.
    """
    from ..persistence import load_model, save_model

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        try:
            save_model(estimator, tmp, metadata=card)
            load_model(tmp)
        except (TypeError, ValueError) as exc:
            # The message names the temporary file; the user named ``path``.
            reason = str(exc).splitlines()[0].replace(os.fspath(tmp), os.fspath(path))
            raise UserError(
                f"--model {key}: the fitted model cannot be kept as a safe "
                f"skradnod model file, so nothing was written: {reason}"
            ) from None
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _load_labelled(args, command, labels="required"):
    from ..io import load_nodule_dataset

    try:
        with unused_files_as_one_line(command):
            return load_nodule_dataset(
                args.data, allow_outside=args.allow_outside, labels=labels
            )
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from None


def _fit(args, stream):
    from ..experiments import (
        ExperimentUnavailable,
        fit_model,
        fit_report_path,
        get_experiment,
        write_fit_report,
        write_model_card,
    )

    try:
        get_experiment(args.model)
    except KeyError as exc:
        raise UserError(f"--model: {exc.args[0]}") from None
    if args.cv is not None and args.cv < 2:
        raise UserError(f"--cv must be at least 2; got {args.cv}.")
    # Checked here (cuda without a GPU is one line); the nets keep the device
    # as given, so "auto" (the default) fits on a GPU and predicts anywhere.
    device = _check_device(args.device)
    _set_threads(args.threads)
    path = _model_outputs(args.out, args.overwrite)
    data = _load_labelled(args, "fit")
    if args.cv is not None:
        _check_cv_fits(args.cv, data)
    if data.groups is None:
        print(
            f"skradnod fit: warning: {args.data} has no patient_id column; the "
            "model's inner splits (early stopping, RFECV, model search)"
            + (" and the --cv folds" if args.cv else "")
            + " are not grouped by patient.",
            file=sys.stderr,
        )
    if args.preset == "full" and device == "cpu" and not args.quiet:
        print(
            "Note: --preset full is the method's size (512 px slices, 60 epochs); "
            "on a CPU expect hours for the nets. --preset cpu, demo or quick "
            "trains smaller models.",
            file=stream,
        )
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*no patient ids")
            result = fit_model(
                args.model, data, preset=args.preset, task=args.task, cv=args.cv,
                device=args.device, random_state=args.random_state,
                data_path=os.fspath(Path(args.data).resolve()),
                verbose=not args.quiet,
            )
    except (ExperimentUnavailable, ImportError, ValueError) as exc:
        raise UserError(f"--model {args.model}: {exc}") from None
    _save_verified(result.estimator, path, result.card, args.model)
    md_path, json_path = write_model_card(result.card, path)
    report = None if result.report is None else write_fit_report(result, path)
    if report is None:  # an earlier --cv fit's page would describe another model
        fit_report_path(path).unlink(missing_ok=True)
    wall = time.perf_counter() - start
    n_patients = result.card["training_data"]["n_patients"]
    print(
        f"Fitted {args.model} ({args.task}, preset {args.preset}) on "
        f"{len(data.target)} samples"
        + (f" from {n_patients} patients" if n_patients is not None else "")
        + f" in {wall:.1f} s.",
        file=stream,
    )
    if result.record is not None:
        r = result.record
        print(
            f"{args.cv}-fold patient-grouped CV: accuracy {r['accuracy']:.3f} "
            f"[{r['accuracy_ci_low']:.3f}, {r['accuracy_ci_high']:.3f}], "
            f"balanced accuracy {r['balanced_accuracy']:.3f}.",
            file=stream,
        )
    print(f"Model: {path}; card: {md_path}, {json_path}"
          + (f"; report: {report}" if report else ""), file=stream)
    return 0


def _read_card(model):
    from ..experiments._card import CARD_FORMAT
    from ..persistence import read_model_metadata

    path = Path(model)
    if not path.is_file():
        raise UserError(f"MODEL {model}: no such file.")
    try:
        card = read_model_metadata(path)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if card is None or card.get("format") != CARD_FORMAT:
        raise UserError(
            f"MODEL {model} carries no skradnod model card (its input contract "
            "and row), so predict cannot check or build its input; write it "
            "with 'skradnod fit'."
        )
    return card


def _predict(args, stream):
    from ..base._atomic import atomic_write
    from ..experiments import OutOfContractError, predict_table
    from ..persistence import load_model

    card = _read_card(args.model)
    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"--out {args.out} is a folder; name the CSV file to write.")
    if out.exists() and not args.overwrite:
        raise UserError(
            f"--out {args.out} already exists; pass --overwrite to replace it, "
            "or name another file."
        )
    _check_writable(out, "--out")
    _set_threads(args.threads)
    start = time.perf_counter()
    data = _load_labelled(args, "predict", labels="optional")
    try:
        model = load_model(args.model)
        table = predict_table(
            model, card, data, allow_out_of_contract=args.allow_out_of_contract
        )
    except OutOfContractError as exc:
        raise UserError(f"{args.data}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise UserError(f"{args.model}: {str(exc).splitlines()[0]}") from None
    with atomic_write(out, newline="") as fh:
        # float_format None: each probability as repr writes it, which reads
        # back to the same float (pandas: float_precision="round_trip").
        table.to_csv(fh, index=False, float_format=None)
    flagged = int((table["status"] != "ok").sum())
    print(
        f"Predicted {len(table)} samples with {card['model']['key']} "
        f"({card['model']['task']}) in {time.perf_counter() - start:.1f} s"
        + (f"; {flagged} outside the model's input contract (flagged in "
           "'status')" if flagged else "")
        + f": {out}",
        file=stream,
    )
    return 0
