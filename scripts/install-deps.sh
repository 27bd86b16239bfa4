#!/usr/bin/env bash
# Installs what isobench needs on Debian or Ubuntu: a Go toolchain that can
# build it, and the runtimes it measures. Idempotent: installs only what is
# missing. A runtime that the distribution does not package is reported and
# skipped; `isobench backends` then shows that backend as unavailable with
# its fix.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps: run as root (sudo $0): it installs packages" >&2
	exit 2
fi
export DEBIAN_FRONTEND=noninteractive

# busybox-static: the shell and tools of the grader's job sandboxes.
# debootstrap and e2fsprogs build the guest images of the standard-tool
# suites; sysbench, iperf3 and apache2-utils (ab) are their load generators,
# which run natively on the host.
runtimes=(runc crun runsc qemu-system-x86 docker.io busybox-static debootstrap debian-archive-keyring e2fsprogs sysbench iperf3 apache2-utils)
missing=()
for p in "${runtimes[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
command -v go >/dev/null 2>&1 || [[ -x /usr/local/go/bin/go ]] || missing+=(golang-go)

if ((${#missing[@]})); then
	echo "install-deps: installing ${missing[*]}" >&2
	apt-get update -qq
	for p in "${missing[@]}"; do
		if apt-cache show "$p" >/dev/null 2>&1; then
			apt-get install -y -qq "$p" >/dev/null
		else
			echo "install-deps: $p is not in this distribution's archive; skipped (see docs/backends.md)" >&2
		fi
	done
fi

# VM backends fetch Debian's cloud kernel with apt-get download: that needs
# package lists (a fresh machine may have none yet).
if ! apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1; then
	apt-get update -qq || true
fi

# Go: isobench needs 1.26. Go 1.21 and later fetch the toolchain that go.mod
# names through the module proxy by themselves (GOTOOLCHAIN=auto).
export PATH="/usr/local/go/bin:$PATH"
gover=$(go env GOVERSION 2>/dev/null || echo none)
minor=$(sed -E 's/^go1\.([0-9]+).*/\1/' <<<"$gover")
if ! [[ $minor =~ ^[0-9]+$ ]] || ((minor < 21)); then
	echo "install-deps: found Go '$gover'; isobench needs Go >= 1.21 to bootstrap 1.26." >&2
	echo "  Install it from https://go.dev/dl (e.g. into /usr/local/go) and re-run." >&2
	exit 1
fi
