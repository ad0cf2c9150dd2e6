# SPDX-License-Identifier: MIT
"""Shared pytest set-up: where the built binaries are, and a loud failure when
/dev/kvm is missing (tests that need KVM must never skip themselves green)."""
import os

import pytest

from kvm_caps import kvm_lacks_hyperv
from paths import KILN

@pytest.fixture(scope="session")
def kiln():
    """Path to the kiln binary; fails the test if it was not built."""
    assert KILN.is_file(), f"{KILN} is missing: run `make` first"
    return str(KILN)


@pytest.fixture(scope="session")
def kvm():
    """Fail (not skip) when KVM is unavailable."""
    assert os.path.exists("/dev/kvm"), ("/dev/kvm is missing: these tests need KVM "
                                        "(`make check` runs them on the nested host)")
    assert os.access("/dev/kvm", os.R_OK | os.W_OK), "/dev/kvm is not accessible"
    return "/dev/kvm"


@pytest.fixture(scope="session")
def linux_kvm(kvm):
    """Fail (not skip) unless KVM can run a Linux userspace: a PVM host cannot
    yet (README), so `make check` runs these on the nested AMD-V host there."""
    assert not os.path.exists("/sys/module/kvm_pvm"), (
        "this KVM is PVM, which cannot run a Linux userspace yet: `make check` runs "
        "these tests on the nested AMD-V host")
    return kvm


@pytest.fixture(scope="session")
def hyperv_kvm(kvm, kiln):
    """Fail (not skip) unless KVM emulates Hyper-V: PVM does not, so `make
    check` runs these on the nested AMD-V host there."""
    missing = kvm_lacks_hyperv(kiln)
    assert not missing, (f"this KVM lacks {', '.join(missing)}: `make check` runs the "
                         "Hyper-V tests on the nested AMD-V host")
    return kvm


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "kvm: needs /dev/kvm (set on every test that takes the kvm fixture); "
        "`make check` runs these on a nested KVM host when this machine has none")
    config.addinivalue_line(
        "markers", "linux_kvm: boots a Linux userspace (set on every test that takes the "
        "linux_kvm fixture); needs a KVM that is not PVM, else `make check` runs these on "
        "the nested AMD-V host")
    config.addinivalue_line(
        "markers", "hyperv_kvm: needs KVM's Hyper-V emulation (set on every test that takes "
        "the hyperv_kvm fixture); PVM has none, so `make check` runs these with the "
        "linux_kvm ones, on the nested AMD-V host there")


def pytest_collection_modifyitems(items):
    """Mark each test that asks for the kvm fixture, so that the check script
    can run exactly those where KVM is (see scripts/check.sh)."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "linux_kvm" in names:
            item.add_marker(pytest.mark.linux_kvm)
        elif "hyperv_kvm" in names:
            item.add_marker(pytest.mark.hyperv_kvm)
        elif "kvm" in names:
            item.add_marker(pytest.mark.kvm)
