#!/usr/bin/env bash
# The main job: installs what is missing, builds isobench (static), lists the
# backends this host offers, and runs the default quick suite over every
# available one. Results go to results/<timestamp>/ (results.json, summary.txt).
# Extra arguments are passed to `isobench run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export PATH="/usr/local/go/bin:$PATH" GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
CGO_ENABLED=0 go build -o bin/isobench ./cmd/isobench
bin/isobench backends
exec bin/isobench run --quick "$@"
