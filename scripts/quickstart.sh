#!/usr/bin/env bash
# The README's first command. On a fresh Debian 12 or Ubuntu 22.04 / 24.04 machine (root or sudo, no GPU needed):
# installs what is missing (scripts/install-system.sh, then the npm dependencies), then runs the main job, SEAL on
# ARC with the embedded defaults: the 260K-parameter stories260K model on the four tiny tasks of examples/arc-tiny,
# 2 self-edits per task, each trained (at most 5 steps) and scored, then the policy fine-tuned on the winners.
# A second run installs nothing and resumes (here: finds finished) the same run directory; delete it to start over.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-system.sh
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}

# npm dependencies, unless node_modules already matches package-lock.json (npm ci would delete and reinstall it).
# `npm ci` builds dist/ through `prepare`; otherwise rebuild it only when a source is newer than the CLI bundle.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
elif [ ! -f dist/cli.mjs ] || [ -n "$(find src runtime-node shaders bench -newer dist/cli.mjs -type f -print -quit)" ]; then
  npm run build
fi

run=runs/quickstart
[ -d "$run" ] && echo "quickstart: $run exists: resuming it (delete it to start over)"
start=$(date +%s)
node bin/seal.mjs arc train --model examples/models/stories260K --tasks examples/arc-tiny/tiny_challenges.json \
  --run "$run" --self-edits 2 --ttt-max-steps 5 --answer-max-tokens 8
echo
echo "quickstart: SEAL on ARC finished in $(($(date +%s) - start)) s; open $PWD/$run/report.html"
echo "quickstart: the tests: npm test; seal outside this folder: npm link (then seal --help)"
