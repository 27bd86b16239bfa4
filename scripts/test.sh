#!/usr/bin/env bash
# The test command: installs what the tests need, then vets, checks
# formatting and runs every test with the race detector. Integration tests
# launch real sandboxes and need root; without it they skip with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -eq 0 ]]; then
	bash scripts/install-deps.sh
	# Test-only: the HTML report's test opens it in headless Chromium.
	if ! command -v chromium >/dev/null 2>&1; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null ||
			echo "test: chromium could not be installed; the HTML rendering test will skip" >&2
	fi
	# Test-only: the grader's PostgreSQL store is tested against a private
	# server (initdb in a temp dir); the package's own cluster is not used.
	if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null ||
			echo "test: postgresql could not be installed; the grader's PostgreSQL tests will fail in CI" >&2
	fi
else
	echo "test: not root: dependencies not installed, integration tests will skip" >&2
fi
export PATH="/usr/local/go/bin:$PATH" GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
# The docker backends' tests need a daemon: a running one is used, else a
# private one (data-root in a temp dir) runs for the tests only.
if [[ $(id -u) -eq 0 ]]; then
	source scripts/dockerd.sh
	isobench_start_dockerd
	trap isobench_stop_dockerd EXIT
	# A signal must end the script through exit, so that the EXIT trap runs.
	trap 'exit 130' INT
	trap 'exit 143' TERM
fi

echo "== go vet"
go vet ./...
echo "== gofmt"
unformatted=$(gofmt -l .)
if [[ -n $unformatted ]]; then
	echo "gofmt needed on: $unformatted" >&2
	exit 1
fi
# On the Debian machines CI runs on, these backends must work: a test of a
# backend that is unavailable there fails instead of skipping.
if [[ ${CI:-} == true && -z ${ISOBENCH_REQUIRE_BACKENDS:-} ]] && grep -q '^ID=debian' /etc/os-release; then
	export ISOBENCH_REQUIRE_BACKENDS=process,runc,crun,runsc-ptrace,qemu,qemu-microvm,docker
	# runsc is registered with the private daemon; a system one may lack it.
	if [[ -n ${isobench_dockerd_dir:-} ]]; then
		ISOBENCH_REQUIRE_BACKENDS+=,docker-runsc
	fi
fi
echo "== go test -race"
go test -race -count=1 -timeout 20m ./...
