"""Training speed: NoduleCNNClassifier (skorch recipe) vs a hand-written torch loop.

On 64x64 nodule crops of the built-in cohort (``make_lidc_cohort`` preprocessed
with ``make_ct_preprocessor(size=64)``; synthetic disc crops with ``--synthetic``
or when the cohort cannot be built, labelled so in the output), both train the
same ``NoduleCNN`` for the same number of epochs with the same recipe:

- AdamW (lr 1e-3), batch 64, class-weighted cross-entropy (balanced, sum 1);
- the same 80/20 stratified split, with the validation loss computed every
  epoch and ``ReduceLROnPlateau`` stepped on it;
- the same augmentation (random flips and rotations, ``augment_batch``) applied
  to training batches only.

skradnod runs with its callbacks as shipped except early stopping
(``patience=None``: fixed epochs). The plain loop uses a ``TensorDataset`` and
a ``DataLoader``, as a torch script would. The two are interleaved
(``--repeats`` rounds) to spread the load noise of a shared machine; the table
reports the median seconds per epoch, the ratio skradnod / plain torch (goal
<= 1.10 on CPU) and inference images/s (``predict_proba`` vs a plain eval loop).

``--precision`` (default "32") sets both: the net's ``precision`` and, for the
plain loop, the same :func:`torch.autocast` around its forward pass and loss.
Both also report training images/s (all images of an epoch, training and
validation, over the median epoch time).

Usage: python benchmarks/bench_training.py [--n 2000] [--epochs 3]
       [--repeats 2] [--device cpu|cuda|auto] [--threads N] [--synthetic]
       [--precision 32|bf16|fp16|auto] [--out DIR] [--name training]
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results"


def load_crops(n, size, synthetic, seed=0):
    """Return (X float32 (n, size, size), y, description)."""
    if not synthetic:
        try:
            from skradnod.datasets import make_lidc_cohort
            from skradnod.preprocessing import make_ct_preprocessor

            data = make_lidc_cohort(n_samples=n, random_state=seed, n_jobs=2)
            X = make_ct_preprocessor(size=size).fit_transform(data.frame["nodule"])
            return (
                np.asarray(X, dtype=np.float32),
                np.asarray(data.target),
                f"make_lidc_cohort(n_samples={n}) nodule crops, "
                f"make_ct_preprocessor(size={size})",
            )
        except Exception as exc:  # the cohort is optional for this timing
            print(f"cohort unavailable ({exc!r}); using synthetic crops")
    rng = np.random.RandomState(seed)
    rr, cc = np.mgrid[:size, :size]
    y = rng.randint(1, 6, n)
    X = rng.normal(0.3, 0.05, (n, size, size)).astype(np.float32)
    for i in range(n):
        radius = 3 + 2 * y[i] + rng.uniform(-1, 1)
        X[i][(rr - size / 2) ** 2 + (cc - size / 2) ** 2 < radius**2] += 0.5
    return X, y, f"SYNTHETIC disc crops ({n}, {size}x{size}), label = radius class"


def make_split(y, seed=0):
    from sklearn.model_selection import StratifiedShuffleSplit

    cv = StratifiedShuffleSplit(1, test_size=0.2, random_state=seed)
    return next(cv.split(np.zeros(len(y)), y))


def run_skradnod(X, y, epochs, device, seed, precision="32"):
    from skradnod.models import NoduleCNNClassifier

    clf = NoduleCNNClassifier(
        max_epochs=epochs, patience=None, device=device, random_state=seed,
        precision=precision,
    )
    start = time.perf_counter()
    clf.fit(X, y)
    total = time.perf_counter() - start
    per_epoch = [float(d) for d in clf.history[:, "dur"]]
    start = time.perf_counter()
    clf.predict_proba(X)
    infer = time.perf_counter() - start
    return {
        "fit_s": total,
        "epoch_s": per_epoch,
        "valid_loss": float(clf.history[-1, "valid_loss"]),
        "infer_images_per_s": len(X) / infer,
    }


def run_plain_torch(X, y, epochs, device, seed, precision="32"):
    """The same recipe written as a plain torch training loop."""
    from contextlib import nullcontext

    from sklearn.utils import compute_class_weight

    from skradnod.models._data import augment_batch
    from skradnod.models._speed import resolve_precision
    from skradnod.nn import NoduleCNN
    from skradnod.utils import resolve_device

    device = resolve_device(device)
    precision = resolve_precision(precision, device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)

    def autocast():
        if dtype is None:
            return nullcontext()
        return torch.autocast(torch.device(device).type, dtype=dtype)

    scaler = torch.amp.GradScaler(torch.device(device).type) if dtype == (
        torch.float16) else None
    torch.manual_seed(seed)
    classes, y_enc = np.unique(y, return_inverse=True)
    weight = compute_class_weight("balanced", classes=np.arange(len(classes)), y=y_enc)
    weight = torch.as_tensor(weight / weight.sum(), dtype=torch.float32, device=device)
    train, valid = make_split(y_enc, seed)
    X_t = torch.from_numpy(X[:, None])
    y_t = torch.from_numpy(y_enc.astype(np.int64))
    train_loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(X_t[train], y_t[train]),
        batch_size=64,
        shuffle=True,
    )
    valid_loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(X_t[valid], y_t[valid]), batch_size=64
    )
    model = NoduleCNN(n_classes=len(classes)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, patience=5, factor=0.5
    )
    criterion = torch.nn.CrossEntropyLoss(weight=weight)
    per_epoch = []
    start = time.perf_counter()
    for _ in range(epochs):
        epoch_start = time.perf_counter()
        model.train()
        for xb, yb in train_loader:
            xb = augment_batch(xb, rotation=15.0)
            xb, yb = xb.to(device), yb.to(device)
            with autocast():
                loss = criterion(model(xb), yb)
            optimizer.zero_grad()
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            loss.item()  # skorch records each batch loss too
        model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for xb, yb in valid_loader:
                xb, yb = xb.to(device), yb.to(device)
                with autocast():
                    total += criterion(model(xb), yb).item() * len(xb)
                count += len(xb)
        scheduler.step(total / count)
        per_epoch.append(time.perf_counter() - epoch_start)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    with torch.no_grad(), autocast():
        model.eval()
        loader = torch.utils.data.DataLoader(X_t, batch_size=64)
        np.concatenate(
            [torch.softmax(model(xb.to(device)), 1).float().cpu().numpy()
             for xb in loader]
        )
    infer = time.perf_counter() - start
    return {
        "fit_s": fit,
        "epoch_s": per_epoch,
        "valid_loss": total / count,
        "infer_images_per_s": len(X) / infer,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--name", default="training")
    parser.add_argument("--precision", default="32",
                        choices=["32", "bf16", "fp16", "auto"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    load_before = os.getloadavg()
    X, y, source = load_crops(args.n, args.size, args.synthetic)
    print(f"data: {source}; X {X.shape}; classes {np.unique(y).tolist()}")
    # Untimed warm-up of both: torch's first convolutions pay one-off kernel
    # selection and allocation costs that would otherwise land on whichever
    # implementation runs first.
    warm = slice(0, min(len(X), 128))
    run_skradnod(X[warm], y[warm], 1, args.device, seed=0, precision=args.precision)
    run_plain_torch(X[warm], y[warm], 1, args.device, seed=0,
                    precision=args.precision)
    runs = {"skradnod": [], "plain torch": []}
    for repeat in range(args.repeats):
        # Alternate the order so neither always runs first on a warming machine.
        order = ["skradnod", "plain torch"]
        if repeat % 2:
            order.reverse()
        for name in order:
            fn = run_skradnod if name == "skradnod" else run_plain_torch
            result = fn(X, y, args.epochs, args.device, seed=repeat,
                        precision=args.precision)
            runs[name].append(result)
            print(
                f"repeat {repeat} {name:12s} fit {result['fit_s']:.2f}s "
                f"epochs {[round(e, 2) for e in result['epoch_s']]} "
                f"infer {result['infer_images_per_s']:.0f} img/s",
                flush=True,
            )
    load_after = os.getloadavg()

    def summary(name):
        epochs = [e for r in runs[name] for e in r["epoch_s"]]
        return {
            "median_epoch_s": statistics.median(epochs),
            "min_epoch_s": min(epochs),
            "train_images_per_s": len(X) / statistics.median(epochs),
            "infer_images_per_s": statistics.median(
                r["infer_images_per_s"] for r in runs[name]
            ),
        }

    sk, pt = summary("skradnod"), summary("plain torch")
    ratio = sk["median_epoch_s"] / pt["median_epoch_s"]
    ratio_min = sk["min_epoch_s"] / pt["min_epoch_s"]
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    lines = [
        f"Training NoduleCNN (default width 32) on {len(X)} crops: {source}.",
        f"{args.epochs} epochs x {args.repeats} interleaved repeats, batch 64, "
        f"device {device}, precision {args.precision}, "
        f"torch threads {torch.get_num_threads()}, "
        f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f} before / "
        f"{load_after[0]:.2f} after.",
        "",
        "| implementation | s/epoch (median) | s/epoch (min) | training images/s "
        "| inference images/s |",
        "|---|---:|---:|---:|---:|",
        f"| skradnod NoduleCNNClassifier | {sk['median_epoch_s']:.2f} | "
        f"{sk['min_epoch_s']:.2f} | {sk['train_images_per_s']:.0f} | "
        f"{sk['infer_images_per_s']:.0f} |",
        f"| plain torch loop | {pt['median_epoch_s']:.2f} | "
        f"{pt['min_epoch_s']:.2f} | {pt['train_images_per_s']:.0f} | "
        f"{pt['infer_images_per_s']:.0f} |",
        "",
        f"Ratio skradnod / plain torch: {ratio:.3f} (median), {ratio_min:.3f} "
        f"(min); goal <= 1.10: {'met' if ratio <= 1.10 else 'NOT met'}.",
    ]
    table = "\n".join(lines)
    print()
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.md").write_text(table + "\n")
    payload = {
        "data": source,
        "n": len(X),
        "size": args.size,
        "epochs": args.epochs,
        "repeats": args.repeats,
        "device": device,
        "precision": args.precision,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform.platform(),
        "runs": runs,
        "skradnod": sk,
        "plain_torch": pt,
        "ratio_median": ratio,
        "ratio_min": ratio_min,
    }
    (args.out / f"{args.name}.json").write_text(json.dumps(payload, indent=2))
    return payload


if __name__ == "__main__":
    main()
