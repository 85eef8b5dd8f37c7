#!/usr/bin/env bash
# Trains the activity model shipped as cloud/model/activity-gru.onnx, reproducibly:
#   1. labelled windows from the simulator through the dsp/ kernels (uplink preset), a training set
#      with more falls than the simulator's usual mix, and a held-out set with the usual mix;
#   2. cloud/model/train.py (numpy, onnx; pinned, in a virtualenv under $EW_CACHE) trains the GRU
#      and writes the ONNX model with its held-out accuracy in its metadata.
# Same seeds, same model. Run: bash scripts/train-model.sh [out.onnx]   (about a minute)
EW_STEP=train-model
source "$(dirname "$0")/lib.sh"
cd "$EW_ROOT"

out="${1:-cloud/model/activity-gru.onnx}"
venv="$EW_CACHE/train-venv"
if ! "$venv/bin/python" -c 'import numpy, onnx' 2>/dev/null; then
  ew_log "creating $venv (numpy, onnx from PyPI)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q numpy==2.3.5 onnx==1.19.1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ew_log "simulating labelled windows"
npx tsx cloud/model/make-dataset.ts --out "$work/train.bin" --sensors 200 --seconds 600 --seed 11 --mix '{"fall":3}'
npx tsx cloud/model/make-dataset.ts --out "$work/heldout.bin" --sensors 60 --seconds 600 --seed 12
ew_log "training"
"$venv/bin/python" cloud/model/train.py --train "$work/train.bin" --val "$work/heldout.bin" --out "$out"
ew_log "wrote $out ($(wc -c < "$out") bytes)"
