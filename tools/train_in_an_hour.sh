#!/usr/bin/env bash
# Data + training of all three architectures within a developer session (the 60 minutes on
# the 2-core machine): `make models-in-an-hour`. A shorter version of `make data` + `make models`,
# which take about 16 min + 2 h and made the shipped weights' recipe:
#   - 200 demonstrations instead of 560 (120 scripted-expert episodes and 80 DART episodes; no
#     strong-noise set), two recorders side by side;
#   - NVSF-A: 10 cloning epochs (18) after 5 camera-pretraining epochs (10), one DAgger round (2)
#     and no extra cloning epochs after it (3); its freeze detector fitted once (the shipped one was
#     refitted on 40 policy episodes through ball passes), then the same reflex, descent and
#     calibration fits;
#   - NVSF-H 4 epochs (12) and NVSF-C 3 epochs (6), one after the other beside NVSF-A.
# Nothing in models/ changes: the weights land in $OUT/ (evaluate them with
# `sensor-fusion eval --weights $OUT/nvsf_a.safetensors ...`), and $OUT/timing.tsv has every stage's
# wall time. Each stage runs only when its output is missing, so an interrupted run resumes.
set -euo pipefail

PY=${PY:-.venv/bin/python}
DATA=${DATA:-data/hour}
OUT=${OUT:-out/hour}
mkdir -p "$OUT"
TIMING="$OUT/timing.tsv"
START=$(date +%s)
[ -e "$TIMING" ] || printf 'stage\tstarted_s\tseconds\n' > "$TIMING"

# stage NAME OUTPUT COMMAND...: runs COMMAND unless OUTPUT exists, and records its wall time.
stage() {
  local name=$1 output=$2; shift 2
  if [ -e "$output" ]; then echo "== $name: $output exists, kept"; return 0; fi
  local t0; t0=$(date +%s)
  echo "== $name ($(( t0 - START )) s into the run)"
  "$@"
  printf '%s\t%d\t%d\n' "$name" "$(( t0 - START ))" "$(( $(date +%s) - t0 ))" >> "$TIMING"
}

record_pair() {  # folder, first seed, episodes per recorder, extra options: two recorders side by side
  local folder=$1 seed=$2 count=$3; shift 3
  rm -rf "$folder.partial"     # an interrupted recording starts again
  $PY -m sensor_fusion record --out "$folder.partial" --episodes "$count" --first-seed "$seed" "$@" &
  $PY -m sensor_fusion record --out "$folder.partial" --episodes "$count" --first-seed $(( seed + count )) "$@"
  wait
  mv "$folder.partial" "$folder"
}

# Seeds clear of make data's (900-1499), the DAgger runs' (61000-66999) and the held-out 100000 on.
stage record_expert "$DATA/expert" record_pair "$DATA/expert" 3000 60
stage record_dart "$DATA/dart" record_pair "$DATA/dart" 3200 40 --action-noise 0.08 --press-noise 0.008
SETS=("$DATA/expert" "$DATA/dart")

nvsf_h_then_c() {
  stage train_nvsf_h "$OUT/nvsf_h/nvsf_h.safetensors" $PY -m sensor_fusion train --architecture nvsf_h \
    --data "${SETS[@]}" --out "$OUT/nvsf_h" --epochs 4 --batch-episodes 32 --window 64 \
    --target-probe-weight 0.2 --camera-probe-weight 0.1 --keyframe-weight 10 --threads 1
  stage train_nvsf_c "$OUT/nvsf_c/nvsf_c.safetensors" $PY -m sensor_fusion train --architecture nvsf_c \
    --data "${SETS[@]}" --out "$OUT/nvsf_c" --epochs 3 --batch-episodes 32 --window 32 --threads 1
}

nvsf_a() {
  stage clone_nvsf_a "$OUT/nvsf_a_bc/nvsf_a.safetensors" $PY -m sensor_fusion train --architecture nvsf_a \
    --data "${SETS[@]}" --out "$OUT/nvsf_a_bc" --epochs 10 --batch-episodes 32 --window 64 --goal-weight 1 \
    --camera-pretrain-epochs 5 --threads 1
  stage dagger_nvsf_a "$OUT/nvsf_a_dagger/nvsf_a.safetensors" $PY -m sensor_fusion train --architecture nvsf_a \
    --data "${SETS[@]}" --out "$OUT/nvsf_a_dagger" --init "$OUT/nvsf_a_bc/nvsf_a.safetensors" --epochs 0 \
    --batch-episodes 32 --window 64 --goal-weight 1 --learning-rate 3e-4 --dagger-rounds 1 --dagger-episodes 16 \
    --dagger-epochs 1 --dagger-expert-mix --dagger-max-seconds 10 --dagger-first-seed 71000 --threads 1
  stage fit_freeze "$OUT/nvsf_a_freeze.safetensors" $PY tools/fit_freeze.py \
    --weights "$OUT/nvsf_a_dagger/nvsf_a.safetensors" --data "${SETS[@]}" --out "$OUT/nvsf_a_freeze.safetensors"
  stage fit_reflex "$OUT/nvsf_a_reflex.safetensors" $PY tools/fit_reflex.py \
    --weights "$OUT/nvsf_a_freeze.safetensors" --data "$DATA/expert" --out "$OUT/nvsf_a_reflex.safetensors"
  stage fit_descent "$OUT/nvsf_a_descent.safetensors" $PY tools/fit_descent.py \
    --weights "$OUT/nvsf_a_reflex.safetensors" --data "${SETS[@]}" --out "$OUT/nvsf_a_descent.safetensors"
  stage calibrate_freeze "$OUT/nvsf_a.safetensors" $PY tools/calibrate_freeze.py \
    --weights "$OUT/nvsf_a_descent.safetensors" --scale 2 --shift 2 --out "$OUT/nvsf_a.safetensors"
}

nvsf_h_then_c > "$OUT/nvsf_h_then_c.log" 2>&1 &
BESIDE=$!
echo "NVSF-H then NVSF-C train beside NVSF-A (their log: $OUT/nvsf_h_then_c.log)"
nvsf_a
wait "$BESIDE"
cp "$OUT/nvsf_h/nvsf_h.safetensors" "$OUT/nvsf_c/nvsf_c.safetensors" "$OUT/"

TOTAL=$(( $(date +%s) - START ))
printf 'total\t0\t%d\n' "$TOTAL" >> "$TIMING"
echo "data + training of all three: $(( TOTAL / 60 )) min $(( TOTAL % 60 )) s (budget 60 min); stages in $TIMING"
echo "weights: $OUT/nvsf_a.safetensors $OUT/nvsf_c.safetensors $OUT/nvsf_h.safetensors"
