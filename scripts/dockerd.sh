#!/usr/bin/env bash
# Sourced by test.sh and quickstart.sh: makes a Docker daemon reachable for
# the docker backends. An already running daemon (DOCKER_HOST, or the
# default socket) is used as it is. Otherwise, where docker.io is installed,
# a private dockerd is started with everything under a temp dir (data-root,
# exec-root, socket), no default bridge and no iptables changes, with runsc
# registered as a runtime when it is installed; DOCKER_HOST points at it and
# isobench_stop_dockerd stops it and removes the dir.
# Usage: source scripts/dockerd.sh; isobench_start_dockerd; ...; isobench_stop_dockerd

isobench_dockerd_dir=""
isobench_dockerd_pid=""

isobench_docker_answers() {
	command -v docker >/dev/null 2>&1 && timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

isobench_start_dockerd() {
	if isobench_docker_answers; then
		echo "dockerd: using the running daemon (${DOCKER_HOST:-unix:///var/run/docker.sock})" >&2
		return 0
	fi
	if ! command -v dockerd >/dev/null 2>&1; then
		echo "dockerd: not installed (apt-get install docker.io); the docker backends will report unavailable" >&2
		return 0
	fi
	isobench_dockerd_dir=$(mktemp -d /tmp/isobench-dockerd-XXXXXX)
	local runtimes="{}"
	if command -v runsc >/dev/null 2>&1; then
		# --network=none: Debian 12's runsc cannot set up its own netstack
		# in the namespace Docker gives it ("cannot run with network enabled
		# in root network namespace"); gVisor then has loopback only.
		runtimes="{\"runsc\": {\"path\": \"$(command -v runsc)\", \"runtimeArgs\": [\"--network=none\"]}}"
	fi
	cat >"$isobench_dockerd_dir/daemon.json" <<JSON
{
  "data-root": "$isobench_dockerd_dir/data",
  "exec-root": "$isobench_dockerd_dir/exec",
  "pidfile": "$isobench_dockerd_dir/dockerd.pid",
  "hosts": ["unix://$isobench_dockerd_dir/docker.sock"],
  "bridge": "none",
  "iptables": false,
  "ip-masq": false,
  "runtimes": $runtimes
}
JSON
	dockerd --config-file "$isobench_dockerd_dir/daemon.json" >"$isobench_dockerd_dir/dockerd.log" 2>&1 &
	isobench_dockerd_pid=$!
	export DOCKER_HOST="unix://$isobench_dockerd_dir/docker.sock"
	for _ in $(seq 1 150); do
		if isobench_docker_answers; then
			echo "dockerd: started a private daemon at $DOCKER_HOST" >&2
			return 0
		fi
		if ! kill -0 "$isobench_dockerd_pid" 2>/dev/null; then
			break
		fi
		sleep 0.2
	done
	echo "dockerd: did not start; its log:" >&2
	tail -20 "$isobench_dockerd_dir/dockerd.log" >&2 || true
	isobench_stop_dockerd
	unset DOCKER_HOST
	return 0
}

isobench_stop_dockerd() {
	[[ -n $isobench_dockerd_dir ]] || return 0
	if [[ -n $isobench_dockerd_pid ]] && kill -0 "$isobench_dockerd_pid" 2>/dev/null; then
		kill -TERM "$isobench_dockerd_pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$isobench_dockerd_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$isobench_dockerd_pid" 2>/dev/null || true
		wait "$isobench_dockerd_pid" 2>/dev/null || true
	fi
	# containerd-shims and anything dockerd left mounted below its dirs.
	pkill -KILL -f "$isobench_dockerd_dir" 2>/dev/null || true
	awk -v d="$isobench_dockerd_dir" '$5 ~ "^"d {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf "$isobench_dockerd_dir"
	isobench_dockerd_dir="" isobench_dockerd_pid=""
}
