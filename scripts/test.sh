#!/usr/bin/env bash
# Runs bpfvm's whole test suite on a fresh machine: installs what the tests
# need (when run as root on Debian), then vet and the Go tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

need=()
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "installing: ${need[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
	else
		echo "warning: ${need[*]} missing and not installable here; the tests that need them will skip" >&2
	fi
fi

go mod download
CGO_ENABLED=0 go build ./...
go vet ./...
go test -count=1 -timeout 30m ./...
