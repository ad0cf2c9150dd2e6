#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the Debian packages kiln's build and tests need. Idempotent: does
# nothing when they are all present; otherwise one apt-get update, one install.
set -euo pipefail

packages=(
	build-essential        # gcc, make
	clang libclang-rt-dev  # the clang build and libFuzzer targets (make fuzz)
	libcriterion-dev       # C unit tests
	acpica-tools           # iasl: compiles the DSDT, disassembles tables in tests
	python3-pytest         # guest-booting tests
	qemu-system-x86        # reference VMM for the same test guests and benchmarks
	fio                    # the host-side limit in the block benchmark
	liburing-dev           # io_uring for virtio-blk
	libmicrohttpd-dev      # the API's HTTP server
	libjansson-dev         # the API's JSON
	libseccomp-dev         # seccomp filters per thread kind
	zlib1g-dev             # CRC-32 of snapshot state files
	libslirp-dev           # --net user: user-mode networking
	dnsmasq-base iproute2  # --net user's tests: DNS and namespaces on the test's own loopback
	curl                   # the API tests drive kiln as a user does, with curl --unix-socket
	cpio lz4 busybox-static # Linux default guest's initramfs and vmlinux extraction
	e2fsprogs              # the nested test host's scratch disk; reading guest file systems
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
		|| missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
