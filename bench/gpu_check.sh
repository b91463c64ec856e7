#!/usr/bin/env bash
# The whole GPU picture in one command (under 8 minutes on one GPU):
#
#     bash bench/gpu_check.sh            # CUDA: ViT-B-32, batch 256, amp_bf16
#     bash bench/gpu_check.sh --smoke    # the same sections end to end on the CPU, tiny (under 2 minutes)
#
# Sections, each a benchmark script of bench/ with its baseline in the same process:
#   1. the machine (bench/machine.py);
#   2. eager: the plain open_clip loop against our step, clip/mxm/gcl/sspc at V=1 C=1 and V=4 C=5
#      (bench/train_throughput.py), with each row's step memory peak;
#   3. compiled: the same with torch.compile, one process per loss (V=4 C=5; clip also V=1 C=1), each with the
#      plain loop as its baseline and a time cap (a compile that does not finish in time is reported as such);
#   4. data: a synthetic dataset of PNG views (bench/synthetic_data.py) packed into the store; our mxm step alone,
#      fed by the real loader from the PNG files, and from the packed store;
#   5. Multi-SK: the solver on the GPU against the loop reference (bench/multisk.py);
#   6. one summary table of every throughput row (samples/s, x plain, step peak GiB).
# Needs only `python` with torch and the project's requirements installed (PYTHON=... to choose the
# interpreter). Results (JSON and logs): $GPU_CHECK_OUT, default bench/results/gpu_check[-smoke]/.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
SMOKE=0
[ "${1:-}" = "--smoke" ] && SMOKE=1
BUDGET=${GPU_CHECK_BUDGET_S:-470}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} KMP_BLOCKTIME=${KMP_BLOCKTIME:-0}

if [ $SMOKE = 1 ]; then
    OUT=${GPU_CHECK_OUT:-bench/results/gpu_check-smoke}
    BUDGET=${GPU_CHECK_BUDGET_S:-110}
    COMMON=(--device cpu --model cf-rn-tiny-64 --batch-size 4 --views 2 --captions 2 --steps 1 --rounds 1 --warmup 1
            --loss-options '{"sspc": {"queue_size": 8, "num_anchors": 4}}' --threads 1)
    COMPILE=(--compile --compile-backend eager --warmup 1)
    COMPILE_LOSSES=(mxm)
    SYNTH=(--items 16 --views 2 --size 64 --threads 2)
    DATA=(--data-steps 2 --workers 1)
    MULTISK=(--device cpu --n 256 --k 8 --iterations 5 --repeats 1 --all-copies-repeats 1 --threads 1)
    CAPS=(eager=60 compile=40 data=60 multisk=30)
else
    OUT=${GPU_CHECK_OUT:-bench/results/gpu_check}
    COMMON=(--device cuda --model ViT-B-32 --batch-size 256 --precision amp_bf16 --views 4 --captions 5 --steps 20
            --rounds 2 --warmup 3)
    COMPILE=(--compile --warmup 4)
    COMPILE_LOSSES=(clip mxm gcl sspc)
    SYNTH=(--items 2048 --views 4 --size 256 --threads 8)
    DATA=(--data-steps 8 --workers 8)
    MULTISK=(--device cuda)
    CAPS=(eager=150 compile=75 data=120 multisk=40)
fi
mkdir -p "$OUT"
cap() { for kv in "${CAPS[@]}"; do [ "${kv%%=*}" = "$1" ] && echo "${kv#*=}"; done; }
STATUS=0

# run SECTION CAP_NAME COMMAND...: runs with the smaller of its cap and the time left; logs to $OUT/SECTION.log
run() {
    local name=$1 capname=$2; shift 2
    local left=$(( BUDGET - SECONDS )) limit
    limit=$(cap "$capname"); [ "$left" -lt "$limit" ] && limit=$left
    if [ "$limit" -lt 10 ]; then
        echo "== $name: skipped (out of time: ${BUDGET}s budget)"; STATUS=1; return
    fi
    echo "== $name (at most ${limit}s)"
    timeout --signal=TERM --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    if [ $rc = 0 ]; then
        sed -n '/^row /,$p' "$OUT/$name.log" | grep -v '^wrote ' || true
    else
        [ $rc = 124 ] && echo "   $name: did not finish in ${limit}s" || echo "   $name: failed (exit $rc)"
        tail -n 5 "$OUT/$name.log" | sed 's/^/   | /'
        STATUS=1
    fi
}

echo "== machine"
"$PY" bench/machine.py | head -n 1
TT=("$PY" bench/train_throughput.py "${COMMON[@]}")

run eager eager "${TT[@]}" --loss all --json "$OUT/eager.json"

for loss in "${COMPILE_LOSSES[@]}"; do
    single=(--no-single); [ "$loss" = clip ] && single=()
    run "compiled-$loss" compile "${TT[@]}" "${COMPILE[@]}" --loss "$loss" "${single[@]}" \
        --json "$OUT/compiled-$loss.json"
done

WS="$OUT/workspace"
if "$PY" bench/synthetic_data.py --workspace "$WS" "${SYNTH[@]}" > "$OUT/synthetic.log" 2>&1; then
    run data data "${TT[@]}" --loss mxm --no-single --data synth --workspace "$WS" --store both "${DATA[@]}" \
        --json "$OUT/data.json"
else
    echo "== data: the synthetic dataset failed"; tail -n 5 "$OUT/synthetic.log"; STATUS=1
fi

echo "== multisk"
if timeout "$(cap multisk)" "$PY" bench/multisk.py "${MULTISK[@]}" --json "$OUT/multisk.json" > "$OUT/multisk.log" 2>&1
then
    grep -E '^\|| x faster|SSPC default' "$OUT/multisk.log" || tail -n 12 "$OUT/multisk.log"
else
    echo "   multisk: failed or out of time"; tail -n 5 "$OUT/multisk.log"; STATUS=1
fi

echo "== summary ($SECONDS s)"
"$PY" - "$OUT" <<'PY'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
print(f"{'section':<16} {'row':<60} {'samples/s':>10} {'x plain':>8} {'peak GiB':>9}")
for path in sorted(out.glob("*.json"), key=lambda p: p.stat().st_mtime):
    data = json.loads(path.read_text())
    for r in data.get("rows", []):
        if "samples_per_s" not in r:
            continue
        peak = r.get("step_peak_gib")
        print(f"{path.stem:<16} {r['row'][:60]:<60} {r['samples_per_s']:>10.1f} {r['x_plain_samples']:>8.2f} "
              f"{'-' if peak is None else f'{peak:.2f}':>9}")
PY
echo "results in $OUT"
exit $STATUS
