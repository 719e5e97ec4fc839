#!/usr/bin/env bash
# One GPU-machine call: the PyTorch + PEFT peer and our `sft` suite on the same GPU, one after the other (each
# process has the GPU to itself), then one JSON with both reports and the our/PEFT ratios (compare_sft.py).
# The peer replays exactly the cases our suite prints (--print-cases), so both run the same configs and shapes.
#
# Here, before the call (the device machine has no Node.js and no registry):
#   npm ci && npm run build && ../shared/device/pack.sh       # dist/ and .devpack/ (both git-ignored: carry them)
# The device tool call (10-minute limit per command):
#   run(command: "source .devpack/prelude.sh && bash bench/peers/run-sft-peer.sh", carry: [".devpack", "dist"], timeout_s: 600)
# Arguments go to our suite and so to both (not --out), e.g. one model at a time if the budget is short:
#   ... && bash bench/peers/run-sft-peer.sh --models Qwen2.5-7B --k 1,8 --steps 3
# Results land in $OUT (fetched back by the tool), else bench/results/: sft-cases.json, sft-peft.json (+ .log),
# ours/sft-<device>-<date>.json (+ ours.log), and sft-vs-peft.json with the ratios.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-bench/results}
mkdir -p "$out/ours"
# Seconds each side may take; the peer goes first so its numbers come back even if ours runs out of time.
PEER_TIMEOUT=${PEER_TIMEOUT:-180}
OURS_TIMEOUT=${OURS_TIMEOUT:-360}

node dist/bench.mjs sft "$@" --print-cases > "$out/sft-cases.json" || { echo "run-sft-peer: bad arguments" >&2; exit 2; }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader 2>/dev/null

echo "== PyTorch + PEFT =="
PYTHONUNBUFFERED=1 timeout "$PEER_TIMEOUT" python3 bench/peers/peft_sft.py --cases "$out/sft-cases.json" --out "$out/sft-peft.json" 2>&1 | tee "$out/sft-peft.log"
peer_rc=${PIPESTATUS[0]}

echo "== ours (WebGPU) =="
timeout "$OURS_TIMEOUT" node dist/bench.mjs sft "$@" --out "$out/ours" 2>&1 | grep -v '^Warning: max' | tee "$out/ours.log"
ours_rc=${PIPESTATUS[0]}

echo "== our / PEFT =="
ours_json=$(ls -t "$out"/ours/sft-*.json 2>/dev/null | head -1)
python3 bench/peers/compare_sft.py --ours "${ours_json:-$out/ours/missing.json}" --peft "$out/sft-peft.json" --out "$out/sft-vs-peft.json"
echo "run-sft-peer: peer exit $peer_rc, ours exit $ours_rc"
[ "$peer_rc" = 0 ] && [ "$ours_rc" = 0 ]
