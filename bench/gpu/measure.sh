#!/usr/bin/env bash
# One GPU-machine call that measures everything, in priority order, each stage under its own time cap:
#   doctor, census, kernels, generate, sft (ours), sft-peft (the PyTorch + PEFT peer), arc, knowledge.
# It runs from what bench/gpu/prepare.sh checked here (.devpack + dist/; nothing is built there, no network there):
#
#   bench/gpu/prepare.sh                                  # here: checks, then prints the device call
#   source .devpack/prelude.sh && bash bench/gpu/measure.sh     # there
#
#   bench/gpu/measure.sh [--dry-run] [--out DIR] [--caps stage=seconds,...] [--preset full|tiny]
#
# --dry-run prints the plan (stages, caps, commands) and exits 0. --caps overrides stages' caps (0 skips a stage);
# the caps must sum to at most 540 s (9 minutes: one device call, prelude and transfers included, is 10).
# --preset tiny runs the same stages at tiny sizes (a CPU adapter such as lavapipe; the tests use it).
# A stage that fails or reaches its cap is recorded with its reason and the next stage runs; a bench killed at its
# cap keeps the cases it finished (its JSON is rewritten after each case). After every stage
# dist/measure-report.mjs stamps each JSON with the stage, device, driver and commit and rewrites the summary
# (summary.md and summary.json: fractions of peak and of the roofline, ratio to PEFT).
#
# Output, under --out DIR (default: $OUT, the device tool's folder, else bench/results/measure-<commit>):
#   measure.log, summary.md, summary.json, and every stage's JSON and log in stages/<stage>/. Where DIR is the
#   device tool's $OUT (which returns at most 8 files), stages/ is kept in /tmp and packed into stages.tar.gz.
set -uo pipefail
cd "$(dirname "$0")/../.."
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}

STAGES=(doctor census kernels generate sft sft-peft arc knowledge)
TOTAL_CAP=540
declare -A CAP=([doctor]=30 [census]=45 [kernels]=90 [generate]=75 [sft]=100 [sft-peft]=60 [arc]=90 [knowledge]=30)
TOKENIZER_NAME=Llama-3.2-1B-Instruct

die() {
  echo "measure: $*" >&2
  exit 2
}

dry_run=0
out=''
preset=full
caps=''
while [ $# -gt 0 ]; do
  case "$1" in
  --dry-run) dry_run=1 ;;
  --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift ;;
  --caps) [ $# -ge 2 ] || die "--caps needs stage=seconds,... (stages: ${STAGES[*]})"; caps=$2; shift ;;
  --preset) [ $# -ge 2 ] || die "--preset needs full or tiny"; preset=$2; shift ;;
  -h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument '$1' (usage: bench/gpu/measure.sh [--dry-run] [--out DIR] [--caps stage=seconds,...] [--preset full|tiny])" ;;
  esac
  shift
done
[ "$preset" = full ] || [ "$preset" = tiny ] || die "--preset must be full or tiny, not '$preset'"

if [ -n "$caps" ]; then
  IFS=',' read -ra pairs <<<"$caps"
  for pair in "${pairs[@]}"; do
    name=${pair%%=*}
    secs=${pair#*=}
    [ -n "${CAP[$name]+x}" ] && [ "$pair" != "$name" ] || die "--caps: '$pair' is not stage=seconds (stages: ${STAGES[*]})"
    [[ "$secs" =~ ^[0-9]+$ ]] || die "--caps: '$secs' for $name is not a whole number of seconds"
    CAP[$name]=$secs
  done
fi
sum=0
for s in "${STAGES[@]}"; do sum=$((sum + CAP[$s])); done
[ "$sum" -le "$TOTAL_CAP" ] || die "--caps: the caps sum to $sum s, over the $TOTAL_CAP s one device call allows; lower some"

# The sizes each stage runs at. full: the Llama-3.2-1B shape on the GPU. tiny: a 1-layer, 64-wide model of the
# same architecture (the tokenizer's 128k vocabulary kept where the ARC bench needs it), seconds on lavapipe.
if [ "$preset" = full ]; then
  CENSUS_ARGS='--models Llama-3.2-1B'
  KERNELS_ARGS=''
  GENERATE_ARGS='--models Llama-3.2-1B'
  SFT_ARGS='--models Llama-3.2-1B --k 1,5 --precision f32,mixed --steps 3 --max-seconds 15'
  ARC_ARGS='--k 1 --precision mixed --ttt-max-steps 50'
else
  tiny_shape='hidden_size=64,intermediate_size=128,num_attention_heads=2,num_key_value_heads=1,head_dim=32'
  CENSUS_ARGS='--models Llama-3.2-1B --layers 1 --cases decode-b1'
  KERNELS_ARGS="--filter 'LoRA r=8 x' --attention-heads 1"
  GENERATE_ARGS='--models Llama-3.2-1B --layers 1 --prefill 8 --batch 1 --context 8 --decode-steps 2'
  SFT_ARGS="--models Llama-3.2-1B --layers 1 --shape $tiny_shape,vocab_size=512 --seq 40 --k 1 --precision f32 --steps 1"
  ARC_ARGS="--layers 1 --shape $tiny_shape,vocab_size=128256 --k 1 --ttt-max-steps 1 --answer-tokens 2"
fi

commit=$(node dist/measure-report.mjs commit 2>/dev/null || echo unknown)
if [ -z "$out" ]; then
  if [ -n "${OUT:-}" ]; then out=$OUT; else out=bench/results/measure-$commit; fi
fi
# The device tool returns at most 8 files from $OUT: there the stages live in /tmp and travel as one archive.
stages=$out/stages
pack=0
if [ -n "${OUT:-}" ] && [ "$out" = "$OUT" ]; then
  stages=${TMPDIR:-/tmp}/seal-measure/stages
  pack=1
fi
tokenizer_packed=.devpack/tokenizers/$TOKENIZER_NAME
tokenizer_shared=../shared/tokenizers/$TOKENIZER_NAME

stage_command() {
  local S="$stages/$1"
  case "$1" in
  doctor) echo "node bin/seal.mjs doctor --json > $S/doctor.json" ;;
  census) echo "node dist/bench.mjs census $CENSUS_ARGS --out $S" ;;
  kernels) echo "node dist/bench.mjs kernels $KERNELS_ARGS --out $S" ;;
  generate) echo "node dist/bench.mjs generate $GENERATE_ARGS --out $S" ;;
  sft) echo "node dist/bench.mjs sft $SFT_ARGS --out $S" ;;
  sft-peft) echo "node dist/bench.mjs sft $SFT_ARGS --print-cases > $S/sft-cases.json && PYTHONUNBUFFERED=1 python3 bench/peers/peft_sft.py --cases $S/sft-cases.json --out $S/sft-peft.json" ;;
  arc) echo "node dist/bench.mjs arc $ARC_ARGS --tokenizer \"\$tokenizer\" --out $S" ;;
  knowledge) echo "node dist/bench.mjs knowledge --out $S" ;;
  esac
}

# When a stage cannot run here: what it needs and lacks (empty: it runs).
stage_unmet() {
  case "$1" in
  sft-peft)
    command -v python3 >/dev/null || { echo "no python3 on this machine"; return; }
    local why
    why=$(python3 -c 'import torch, transformers, peft; assert torch.cuda.is_available(), "torch sees no CUDA GPU"' 2>&1 | tail -1) ||
      echo "the PEFT peer needs python3 with torch, transformers and peft on a CUDA GPU: $why"
    ;;
  arc) [ -n "$tokenizer" ] || echo "no $TOKENIZER_NAME tokenizer: neither $tokenizer_packed (bench/gpu/prepare.sh puts it there) nor $tokenizer_shared" ;;
  knowledge) node dist/bench.mjs --help 2>&1 | grep -q 'bench -- knowledge' || echo "this commit's bench has no knowledge suite" ;;
  esac
}

if [ "$dry_run" = 1 ]; then
  echo "measure plan (preset $preset, commit $commit): ${#STAGES[@]} stages, caps sum to $sum s of $TOTAL_CAP s"
  echo "output: $out (stages in $stages$([ "$pack" = 1 ] && echo ", packed into $out/stages.tar.gz"))"
  tokenizer="<$tokenizer_packed, else $tokenizer_shared>"
  for s in "${STAGES[@]}"; do
    printf '  %-9s cap %3ss  %s\n' "$s" "${CAP[$s]}" "$(stage_command "$s")"
  done
  echo "  (sft-peft runs where python3 imports torch, transformers and peft on a CUDA GPU; arc needs the tokenizer;"
  echo "   knowledge runs when the bench has that suite. A stage with cap 0 is skipped.)"
  exit 0
fi

rm -rf "$stages" # a stage summarized is one this run wrote
mkdir -p "$out" "$stages" || die "cannot create $out"
log=$out/measure.log
: >"$log"
say() { echo "$*" | tee -a "$log"; }

# The tokenizer travels xz-compressed in .devpack (prepare.sh): unpack it with Python (the GPU machine has no xz).
tokenizer=''
if [ -f "$tokenizer_packed/tokenizer.json.xz" ]; then
  tokenizer=${TMPDIR:-/tmp}/seal-measure/$TOKENIZER_NAME
  mkdir -p "$tokenizer"
  for f in "$tokenizer_packed"/*.xz; do
    python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$f" "$tokenizer/$(basename "$f" .xz)" || tokenizer=''
  done
elif [ -f "$tokenizer_shared/tokenizer.json" ]; then
  tokenizer=$tokenizer_shared
fi

gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)
report() { node dist/measure-report.mjs "$@" --dir "$out" --stages "$stages" --gpu "$gpu" --preset "$preset" 2>&1 | tee -a "$log"; }
say "measure: preset $preset, commit $commit, ${gpu:-no nvidia-smi}, caps sum to $sum s; output in $out"
report start

started=$SECONDS
for s in "${STAGES[@]}"; do
  mkdir -p "$stages/$s"
  cap=${CAP[$s]}
  left=$((TOTAL_CAP - (SECONDS - started)))
  [ "$cap" -le "$left" ] || cap=$left
  if [ "${CAP[$s]}" = 0 ]; then
    report record --stage "$s" --status skipped --reason "cap 0 (--caps)"
    continue
  fi
  if [ "$cap" -le 0 ]; then
    report record --stage "$s" --status skipped --reason "no time left of the $TOTAL_CAP s"
    continue
  fi
  unmet=$(stage_unmet "$s")
  if [ -n "$unmet" ]; then
    say "== $s: skipped: $unmet"
    report record --stage "$s" --status skipped --reason "$unmet"
    continue
  fi
  cmd=$(stage_command "$s")
  say "== $s (cap ${cap} s): $cmd"
  t0=$SECONDS
  # Own process group per stage, so the cap ends everything the stage started; SIGKILL 5 s after SIGTERM.
  timeout -k 5 "$cap" bash -c "tokenizer='$tokenizer'; $cmd" >"$stages/$s.log" 2>&1
  rc=$?
  secs=$((SECONDS - t0))
  grep -v '^Warning: max' "$stages/$s.log" | tail -5 | sed 's/^/   /' | tee -a "$log"
  if [ "$rc" = 0 ]; then
    report record --stage "$s" --status ok --seconds "$secs" --cap "$cap"
  elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    report record --stage "$s" --status timed-out --seconds "$secs" --cap "$cap" --reason "stopped at its cap of $cap s (what it finished is kept)"
  else
    reason=$(grep -v '^Warning: max' "$stages/$s.log" | grep -v '^\s*$' | tail -1)
    report record --stage "$s" --status failed --seconds "$secs" --cap "$cap" --reason "exit $rc: ${reason:-no output}"
  fi
  if [ "$pack" = 1 ]; then
    tar -czf "$out/stages.tar.gz.tmp" -C "$(dirname "$stages")" stages && mv "$out/stages.tar.gz.tmp" "$out/stages.tar.gz"
  fi
done
say "measure: done in $((SECONDS - started)) s"
cat "$out/summary.md"
