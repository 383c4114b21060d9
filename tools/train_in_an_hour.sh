#!/usr/bin/env bash
# Data + training of all three architectures within a developer session (the 60 minutes on
# the 2-core machine): `make models-in-an-hour`. Recorded and trained from nothing; nothing in models/
# changes: the weights land in $OUT/ (evaluate them with `sensor-fusion eval --weights
# $OUT/nvsf_a.safetensors ...`) and $OUT/timing.tsv has every stage's wall time. Each stage runs only
# when its output is missing, so an interrupted run resumes.
#   - 200 demonstrations: 120 scripted-expert episodes and 80 DART episodes (travel and press noise),
#     two recorders side by side;
#   - NVSF-A: its goal pathway's locators first learn alone where the cubes are (camera frames, 20
#     epochs) and where the tool is (joint angles, 10 epochs); then 10 cloning epochs in which every
#     episode's head reads the true goal - tool (goal teacher forcing), then its freeze detector,
#     press reflex and descent pathway, each fitted alone, and the freeze's operating point moved;
#   - beside it, NVSF-H 4 cloning epochs, then NVSF-C 3.
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

# Seeds clear of make data's (900-1499), the earlier recordings' (to 3299), the DAgger runs' (50 000
# on), the selection seeds (90 000 on) and the held-out ones (100 000 on).
stage record_expert "$DATA/expert" record_pair "$DATA/expert" 3400 60
stage record_dart "$DATA/dart" record_pair "$DATA/dart" 3600 40 --action-noise 0.08 --press-noise 0.008
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
    --camera-pretrain-epochs 20 --tool-pretrain-epochs 10 --goal-teacher-forcing 1 --threads 1
  stage fit_freeze "$OUT/nvsf_a_freeze.safetensors" $PY tools/fit_freeze.py \
    --weights "$OUT/nvsf_a_bc/nvsf_a.safetensors" --data "${SETS[@]}" --out "$OUT/nvsf_a_freeze.safetensors"
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
printf 'total\t0\t%d\n' "$(( $(date +%s) - START ))" >> "$TIMING"
echo "done in $(( ($(date +%s) - START) / 60 )) min: $OUT/nvsf_a.safetensors, $OUT/nvsf_h.safetensors, $OUT/nvsf_c.safetensors"
