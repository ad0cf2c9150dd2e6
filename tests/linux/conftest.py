# SPDX-License-Identifier: MIT
"""Set-up for the Linux guest smoke test: the `linux` marker, and the guest
built by `make linux-guest` (downloaded from Debian the first time)."""
import subprocess

import pytest

from paths import BUILD, ROOT

GUEST = BUILD / "linux-guest"
GUEST_FILES = ("bzImage", "vmlinux", "initramfs.cpio.gz")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "linux: boots Linux under kiln (slow: the smoke test up to 3 minutes; "
        "the end-to-end tests build the small kernel first, then about a minute on the "
        "nested host)")


@pytest.fixture(scope="session")
def linux_guest():
    """build/linux-guest/, built (or found up to date) by `make linux-guest`."""
    subprocess.run(["make", "-s", "linux-guest"], cwd=ROOT, check=True, timeout=900)
    for name in GUEST_FILES:
        assert (GUEST / name).is_file(), f"make linux-guest did not produce {name}"
    return GUEST
