# SPDX-License-Identifier: MIT
"""Shared pytest set-up: where the built binaries are, and a loud failure when
/dev/kvm is missing (tests that need KVM must never skip themselves green)."""
import os

import pytest

from paths import KILN


@pytest.fixture(scope="session")
def kiln():
    """Path to the kiln binary; fails the test if it was not built."""
    assert KILN.is_file(), f"{KILN} is missing: run `make` first"
    return str(KILN)


@pytest.fixture(scope="session")
def kvm():
    """Fail (not skip) when KVM is unavailable."""
    assert os.path.exists("/dev/kvm"), "/dev/kvm is missing: these tests need KVM"
    assert os.access("/dev/kvm", os.R_OK | os.W_OK), "/dev/kvm is not accessible"
    return "/dev/kvm"
