"""``skradnod explain``: why a kept model predicts what it does, per sample."""

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.utils import _safe_indexing

from ._common import UserError
from ._experiments import _set_threads
from ._model import _load_labelled, _read_card

INDEX = "explanations.csv"


def _selected(data, ids):
    """Positions of ``--ids`` in the data (all samples when not given)."""
    known = [str(i) for i in data.frame.index]
    if not ids:
        return np.arange(len(known))
    where = {sample_id: k for k, sample_id in enumerate(known)}
    missing = [i for i in ids if i not in where]
    if missing:
        raise UserError(
            f"--ids: {', '.join(map(repr, missing[:5]))}"
            + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else "")
            + " not in the data's id column."
        )
    return np.array([where[i] for i in dict.fromkeys(ids)])


def _check_out(out, overwrite):
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; name a folder for the explanations.")
    if (out / INDEX).exists() and not overwrite:
        raise UserError(
            f"--out {out} already holds {INDEX} from an earlier explain; pass "
            "--overwrite to replace its files, or name another folder."
        )


def _explain(args, stream):
    from ..experiments import check_input_contract, row_input
    from ..inspection import explain_predictions
    from ..persistence import load_model

    card = _read_card(args.model)
    out = Path(args.out)
    _check_out(out, args.overwrite)
    _set_threads(args.threads)
    start = time.perf_counter()
    data = _load_labelled(args, "explain", labels="optional")
    keep = _selected(data, args.ids)
    reasons = check_input_contract(card["input_contract"], data)
    bad = [k for k in keep if reasons[k]]
    if bad and not args.allow_out_of_contract:
        raise UserError(
            f"{args.data}: row id={str(data.frame.index[bad[0]])!r} lies outside "
            f"the model's input contract: {reasons[bad[0]]}; pass "
            "--allow-out-of-contract to explain it anyway"
        )
    try:
        model = load_model(args.model)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{args.model}: {str(exc).splitlines()[0]}") from None
    key = card["model"]["key"]
    X = row_input(data, key)
    subset = _safe_indexing(X, keep)
    extra = {}
    if data.target is not None:
        # An image net ignores them; a radiomic model is explained by a
        # permutation importance, a property of its settings on a labelled
        # data set (refits on patient-grouped folds), which needs both.
        target = np.asarray(data.target)[keep]
        if card["model"]["task"] == "binary":
            from ..evaluation import to_binary

            target = to_binary(target)
        groups = getattr(data, "groups", None)
        extra = {"y": target,
                 "groups": None if groups is None else np.asarray(groups)[keep]}
    try:
        index = explain_predictions(
            model, subset, out_dir=out, ids=[str(data.frame.index[k]) for k in keep],
            layer=args.layer, **extra,
        )
    except ValueError as exc:
        if data.target is None and "needs the labels" in str(exc):
            raise UserError(
                f"MODEL {args.model} ({key}) is explained by the permutation "
                f"importance of its features, which needs labels: {args.data} "
                "has no malignancy column."
            ) from None
        raise UserError(f"{args.model}: {str(exc).splitlines()[0]}") from None
    files = sorted(set(index["file"]))
    print(
        f"Explained {len(index)} sample(s) with {key} in "
        f"{time.perf_counter() - start:.1f} s: {len(files)} picture(s) and "
        f"{INDEX} in {out}",
        file=stream,
    )
    if bad:
        print(f"skradnod explain: warning: {len(bad)} sample(s) outside the model's "
              "input contract were explained (--allow-out-of-contract).",
              file=sys.stderr)
    return 0
