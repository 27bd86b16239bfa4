#!/usr/bin/env bash
# The main job: installs what is missing, builds isobench (static), lists the
# backends this host offers, and runs the default quick suite over every
# available one. Results go to results/<timestamp>/ (results.json, summary.txt).
# Extra arguments are passed to `isobench run`. Without a running Docker
# daemon, a private one is started for the run and stopped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export PATH="/usr/local/go/bin:$PATH" GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
CGO_ENABLED=0 go build -o bin/isobench ./cmd/isobench
source scripts/dockerd.sh
isobench_start_dockerd
trap isobench_stop_dockerd EXIT
# A signal must end the script through exit, so that the EXIT trap runs.
trap 'exit 130' INT
trap 'exit 143' TERM
bin/isobench backends
bin/isobench run --quick "$@"
