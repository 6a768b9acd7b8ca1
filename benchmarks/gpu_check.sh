#!/usr/bin/env bash
# One prepared check of skradnod on a GPU machine, under 6 minutes, JSON out.
#
# Usage: benchmarks/gpu_check.sh OUT [--device cuda|cpu] [--quick]
#
# Uses the skradnod found on PATH (its console script's Python; else `python3`,
# or $PYTHON when set) and writes into the folder OUT:
#   env.json          Python, torch, skradnod, the GPU (nvidia-smi)
#   pytest_gpu.json   the test suite's tests marked `gpu` (tests/test_gpu.py ...)
#   training.json/md  benchmarks/bench_training.py: skradnod vs a plain torch
#                     loop, same precision (ratio goal <= 1.10), s/epoch and
#                     images/s at 64 px; training-auto.* the same with the
#                     default precision ("auto": bf16 on a GPU that has it)
#   fusion.json       FusionClassifier epochs on the whole cohort at 64 px
#   lazy.json         full 512 px slices read lazily with loader workers:
#                     images/s per epoch, GPU utilisation from nvidia-smi
#   pickle.json       a model trained on the device, loaded on CPU in a fresh
#                     process: identical predictions
#   fastrad.json      skipped: fastrad is not adopted (see
#                     benchmarks/results/fastrad.md)
#   summary.json      every step: status, seconds, exit code, log file
#   <step>.log        each step's output
# --device cpu runs the same steps on the CPU (the dry run); --quick shrinks the
# data so the dry run takes a few minutes. Every step gets a time limit and the
# whole script stops starting steps at 340 s (900 s with --device cpu), so on a
# GPU it ends within 6 minutes. The exit status is 1 when a step failed or timed
# out, 2 for bad arguments.
set -uo pipefail

usage() { sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
OUT=$1
shift
DEVICE=cuda
QUICK=""
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE=${2:-}; shift 2 ;;
        --device=*) DEVICE=${1#--device=}; shift ;;
        --quick) QUICK=--quick; shift ;;
        *) echo "gpu_check.sh: unknown argument '$1'" >&2; usage ;;
    esac
done
case "$DEVICE" in cuda|cpu) ;; *) echo "gpu_check.sh: --device must be cuda or cpu, got '$DEVICE'" >&2; exit 2 ;; esac

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# The Python that runs the skradnod on PATH.
if [ -n "${PYTHON:-}" ]; then
    PY=$PYTHON
elif SK=$(command -v skradnod) && head -1 "$SK" | grep -q '^#!.*python'; then
    PY=$(head -1 "$SK" | sed 's/^#! *//')
else
    PY=$(command -v python3 || command -v python)
fi
export MPLBACKEND=Agg

# 340 s on a GPU keeps the whole run under 6 minutes; the CPU dry run is a
# functional check whose speed depends on the machine, so it may take longer.
# Step limits are set for a GPU machine. The CPU dry run needs about 85 s of CPU
# time, but its wall time grows with whatever else shares the machine, so its
# limits are four times longer (a safety net, not a speed goal).
if [ "$DEVICE" = cuda ]; then BUDGET=340; SCALE=1; else BUDGET=900; SCALE=4; fi
START=$(date +%s)
SUMMARY="$OUT/.steps.tsv"
: > "$SUMMARY"

# step NAME LIMIT_S CMD...: run with a time limit (capped by what is left of
# the budget), log to OUT/NAME.log, record status and duration.
step() {
    local name=$1 limit=$2
    shift 2
    limit=$((limit * SCALE))
    local left=$((BUDGET - ($(date +%s) - START)))
    if [ "$left" -lt 15 ]; then
        printf '%s\tskipped\t0\t-\tno time left in the %ss budget\n' "$name" "$BUDGET" >> "$SUMMARY"
        echo "== $name: skipped (budget spent)"
        return
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    echo "== $name (limit ${limit}s)"
    local t0 rc status
    t0=$(date +%s%N)
    timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
    rc=$?
    case $rc in
        0) status=ok ;;
        124|137) status=timeout ;;
        *) status=failed ;;
    esac
    local secs
    secs=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$secs" "$rc" "$name.log" >> "$SUMMARY"
    echo "   $status in ${secs}s (log: $OUT/$name.log)"
    tail -3 "$OUT/$name.log" | sed 's/^/   | /'
}

CHECK=("$PY" "$HERE/gpu_check.py")
if [ -n "$QUICK" ]; then
    TRAIN=(--n 128 --epochs 1 --repeats 1)
else
    TRAIN=(--n 2000 --epochs 3 --repeats 2)
fi

step env 60 "${CHECK[@]}" env --out "$OUT" --device "$DEVICE"

# The test modules that mark tests `gpu` (collecting only those is quicker).
mapfile -t GPU_TESTS < <(grep -l 'mark\.gpu' "$ROOT"/tests/test_*.py 2>/dev/null)
if [ ${#GPU_TESTS[@]} -gt 0 ]; then
    step pytest_gpu 120 bash -c '"$0" -m pytest -p no:cacheprovider -q -m gpu --junitxml="$1/pytest_gpu.xml" "${@:3}"; rc=$?; "$0" "$2" junit --out "$1" --junit "$1/pytest_gpu.xml" >/dev/null || exit 1; [ $rc -eq 0 ] || [ $rc -eq 5 ]' \
        "$PY" "$OUT" "$HERE/gpu_check.py" "${GPU_TESTS[@]}"
else
    printf 'pytest_gpu\tskipped\t0\t-\tno test module marks tests gpu under %s/tests\n' "$ROOT" >> "$SUMMARY"
fi

# Same precision on both sides for the ratio; then the default ("auto").
step training 90 "$PY" "$HERE/bench_training.py" --device "$DEVICE" "${TRAIN[@]}" \
    --precision 32 --out "$OUT" --name training
if [ "$DEVICE" = cuda ]; then
    step training-auto 60 "$PY" "$HERE/bench_training.py" --device "$DEVICE" \
        "${TRAIN[@]}" --repeats 1 --precision auto --out "$OUT" --name training-auto
else
    printf 'training-auto\tskipped\t0\t-\tprecision "auto" is float32 on a CPU: the training step\n' >> "$SUMMARY"
fi
step fusion 120 "${CHECK[@]}" fusion --out "$OUT" --device "$DEVICE" $QUICK
step lazy 75 "${CHECK[@]}" lazy --out "$OUT" --device "$DEVICE" $QUICK
step pickle 60 "${CHECK[@]}" pickle --out "$OUT" --device "$DEVICE" $QUICK
printf 'fastrad\tskipped\t0\t-\tfastrad is not adopted: benchmarks/results/fastrad.md\n' >> "$SUMMARY"

"$PY" - "$OUT" "$DEVICE" "${QUICK:-full}" "$START" "$PY" <<'EOF'
import json, sys, time
from pathlib import Path

out, device, mode, start, python = Path(sys.argv[1]), *sys.argv[2:]
steps = []
for line in (out / ".steps.tsv").read_text().splitlines():
    name, status, seconds, rc, note = line.split("\t")
    steps.append({"step": name, "status": status, "seconds": round(float(seconds), 1),
                  "exit_code": None if rc == "-" else int(rc),
                  ("log" if note.endswith(".log") else "reason"): note})
failed = [s["step"] for s in steps if s["status"] in ("failed", "timeout")]
summary = {"device": device, "mode": mode.lstrip("-"), "python": python,
           "total_seconds": round(time.time() - float(start), 1),
           "passed": not failed, "failed_steps": failed, "steps": steps}
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
(out / ".steps.tsv").unlink()
print(json.dumps({k: summary[k] for k in ("device", "mode", "total_seconds",
                                          "passed", "failed_steps")}))
sys.exit(1 if failed else 0)
EOF
