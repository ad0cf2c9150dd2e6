#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The test run behind `make check` (after the build): unit tests, the ASan
# unit tests, every pytest module and a short run of each fuzz target
# (KILN_FUZZ_SECONDS each, 15 by default). Tests that need KVM run where KVM
# is: on this machine when it has /dev/kvm (PVM or hardware), otherwise on the
# nested AMD-V host (scripts/nested-host.sh), with a notice saying so. They
# are never skipped: KILN_NESTED=0 makes a machine without /dev/kvm fail them.
# Every step runs; the exit status is 1 when any step failed.
# `check.sh kvm` runs only the tests that need KVM, `check.sh linux` those that
# boot a Linux userspace or use KVM's Hyper-V emulation (they need a KVM that
# is not PVM), `check.sh nested` both: what the nested host runs.
set -uo pipefail
cd "$(dirname "$0")/.."

unit=build/unit-tests
unit_asan=build/unit-tests-asan
pytest="/usr/bin/python3 -m pytest"
# The Criterion suites and the pytest marker (tests/conftest.py) that need KVM.
kvm_suites="walk_kvm|vm_kvm"
failed=()

step() {
	local name="$1"
	shift
	echo "check: $name"
	"$@" || failed+=("$name")
}

kvm_tests() {
	local status=0
	"$unit" --jobs 2 --filter "@($kvm_suites)/*" || status=1
	ASAN_OPTIONS=detect_leaks=0 "$unit_asan" --jobs 2 --filter "@($kvm_suites)/*" || status=1
	$pytest -q -m kvm tests || status=1
	return $status
}

# Tests that boot a Linux userspace (pytest marks them linux_kvm): they need
# a KVM that can run one, which a PVM host cannot yet (README); and those
# that need KVM's Hyper-V emulation (hyperv_kvm), which PVM lacks too.
linux_kvm_tests() {
	$pytest -q -m "linux_kvm or hyperv_kvm" tests
}

case "${1:-}" in
kvm) kvm_tests; exit ;;
linux) linux_kvm_tests; exit ;;
nested) # the nested host's share when this machine has no /dev/kvm: both
	status=0
	kvm_tests || status=1
	linux_kvm_tests || status=1
	exit $status ;;
esac

step "unit tests" "$unit" --jobs 2 --filter "!($kvm_suites)/*"
step "unit tests (ASan, UBSan)" env ASAN_OPTIONS=detect_leaks=0 "$unit_asan" --jobs 2 \
	--filter "!($kvm_suites)/*"
# linux_tap (the tap e2e) is left out while the nested host stalls under it (README).
step "pytest, tests without KVM" $pytest -q -m "not kvm and not linux_kvm and not hyperv_kvm and not linux_tap" tests
# Every libFuzzer target (mk/fuzz.mk): its regression inputs, then a short run
# on its corpus; a crash leaves its input in build/fuzz/crashes/<target>/.
fuzz_seconds="${KILN_FUZZ_SECONDS:-15}"
step "fuzz targets, ${fuzz_seconds} s each" \
	bash -c "make -s fuzz-build && bash scripts/fuzz.sh $fuzz_seconds"

# The nested host has no network: fetch and build what the Linux guests
# (the API tests' too) boot first.
nested() {
	make -s linux-guest linux-small && bash scripts/nested-host.sh "bash scripts/check.sh $1"
}

if [ -e /dev/kvm ] || [ "${KILN_NESTED:-1}" = 0 ]; then
	step "tests with KVM" kvm_tests
	if [ -e /sys/module/kvm_pvm ] && [ "${KILN_NESTED:-1}" != 0 ]; then
		echo "check: NOTICE: this machine's KVM is PVM, which cannot run a Linux userspace" \
			"yet; the tests that boot one run on the nested AMD-V host instead"
		step "tests with Linux guests, on the nested host" nested linux
	else
		step "tests with Linux guests" bash -c "make -s linux-guest linux-small && bash scripts/check.sh linux"
	fi
else
	echo "check: NOTICE: this machine has no /dev/kvm; the tests that need KVM run on" \
		"the nested AMD-V host (scripts/nested-host.sh) instead"
	step "tests with KVM, on the nested host" nested nested
fi

if [ ${#failed[@]} -ne 0 ]; then
	printf 'check: FAILED: %s\n' "${failed[@]}"
	exit 1
fi
echo "check: all passed"
