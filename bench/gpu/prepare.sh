#!/usr/bin/env bash
# Run here, before the GPU call: checks that everything bench/gpu/measure.sh needs on the GPU machine is prepared
# (dist/ built from this commit, .devpack/ packed, the Llama-3.2 tokenizer for the ARC stage, all of it under the
# device tool's 64 MiB), then prints the exact device call. Exits 1 with what to do when something is missing.
#
#   bench/gpu/prepare.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
TOKENIZER_NAME=Llama-3.2-1B-Instruct
# What the call carries besides the working tree: the pack and the three bundles measure.sh runs (no source maps).
CARRY=(.devpack dist/cli.mjs dist/bench.mjs dist/measure-report.mjs)
LIMIT_MIB=64
problems=0
problem() {
  echo "prepare: $*" >&2
  problems=$((problems + 1))
}

# dist/ built from this commit: measure.sh runs the bundles, nothing is built there.
for f in dist/cli.mjs dist/bench.mjs dist/measure-report.mjs; do
  [ -f "$f" ] || problem "$f is missing: run npm run build"
done
if [ -f dist/measure-report.mjs ]; then
  built=$(node dist/measure-report.mjs commit)
  head=$(git rev-parse --short=12 HEAD)
  if [ "${built%-dirty}" != "$head" ]; then
    problem "dist/ was built from commit $built, HEAD is $head: run npm run build"
  elif [ "$built" != "${built%-dirty}" ]; then
    echo "prepare: note: dist/ was built with uncommitted changes ($built); the results will say so" >&2
  fi
fi

# .devpack: node, dawn.node and the Vulkan loader for a machine that has no Node.js (../shared/device/pack.sh).
if [ ! -f .devpack/node.xz ] || [ ! -f .devpack/prelude.sh ] || [ ! -f .devpack/node_modules/webgpu/dist/linux-x64/dawn.node.xz ] ||
  ! ls .devpack/debs/*.deb >/dev/null 2>&1; then
  problem ".devpack/ is missing or incomplete: run ../shared/device/pack.sh (after npm ci and npm run build), then this again"
fi

# The ARC stage's tokenizer travels in .devpack, xz-compressed (pack.sh rebuilds .devpack, so it is added after).
packed=.devpack/tokenizers/$TOKENIZER_NAME
shared=../shared/tokenizers/$TOKENIZER_NAME
if [ -d .devpack ] && [ ! -f "$packed/tokenizer.json.xz" ]; then
  if [ -f "$shared/tokenizer.json" ] && [ -f "$shared/tokenizer_config.json" ]; then
    mkdir -p "$packed"
    for f in tokenizer.json tokenizer_config.json; do xz -6 -c "$shared/$f" >"$packed/$f.xz.tmp" && mv "$packed/$f.xz.tmp" "$packed/$f.xz"; done
    echo "prepare: added the $TOKENIZER_NAME tokenizer to $packed"
  else
    echo "prepare: note: no $shared (tokenizer.json, tokenizer_config.json): the arc stage will be skipped" >&2
  fi
fi

# What travels: tracked and untracked-not-ignored files, and the carried paths.
if [ "$problems" = 0 ]; then
  tree=$(git ls-files -z -c -o --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
  carried=$(du -cb "${CARRY[@]}" | tail -1 | cut -f1)
  mib=$(((tree + carried) / 1048576))
  echo "prepare: the call sends $mib MiB (working tree $((tree / 1048576)) MiB, carried $((carried / 1048576)) MiB) of $LIMIT_MIB MiB"
  [ "$mib" -lt "$LIMIT_MIB" ] || problem "that is over the device tool's $LIMIT_MIB MiB: ignore or remove large untracked files"
fi
bash bench/gpu/measure.sh --dry-run || problem "measure.sh --dry-run failed"

if [ "$problems" != 0 ]; then
  echo "prepare: $problems problem(s) above; fix them and run bench/gpu/prepare.sh again" >&2
  exit 1
fi
carry=$(printf '"%s", ' "${CARRY[@]}")
echo
echo "Ready. The device call (one call, about 9 minutes; results come back in \$OUT: summary.md, summary.json,"
echo "measure.json, measure.log and stages.tar.gz with every stage's JSON and log):"
echo
echo "  run(command: \"source .devpack/prelude.sh && bash bench/gpu/measure.sh\", carry: [${carry%, }], timeout_s: 600)"
