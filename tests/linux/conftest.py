# SPDX-License-Identifier: MIT
"""Set-up for the Linux guest smoke test: the `linux` marker, and the guest
built by `make linux-guest` (downloaded from Debian the first time)."""
import json
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


NET_RESULTS = {"user": BUILD / "nested" / "net-user.json", "tap": BUILD / "nested" / "net-tap.json"}
NET_NESTED_TIMEOUT = 2400


@pytest.fixture(scope="session")
def nested_net(linux_guest):
    """The user-mode (tests/linux/nested_net_user.py) and tap
    (tests/linux/nested_net_tap.py, in a network namespace of its own)
    networking boots, both in one run of the nested AMD-V host (each launch
    costs minutes): {"user": ..., "tap": ...} as each driver wrote it."""
    subprocess.run(["make", "-s", "linux-small", "build/kiln"], cwd=ROOT, check=True,
                   timeout=1800)
    for path in NET_RESULTS.values():
        path.unlink(missing_ok=True)
    command = (f"/usr/bin/python3 tests/linux/nested_net_user.py {NET_RESULTS['user']}; "
               f"unshare --net /usr/bin/python3 tests/linux/nested_net_tap.py "
               f"{NET_RESULTS['tap']}")
    proc = subprocess.run(
        ["bash", "scripts/nested-host.sh", command],
        cwd=ROOT, capture_output=True, text=True, timeout=NET_NESTED_TIMEOUT + 60,
        env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "NESTED_TIMEOUT": str(NET_NESTED_TIMEOUT)})
    missing = [name for name, path in NET_RESULTS.items() if not path.exists()]
    assert proc.returncode == 0 and not missing, \
        f"the nested host failed ({proc.returncode}; no results from {missing}):\n" \
        f"{proc.stdout[-4000:]}{proc.stderr[-2000:]}"
    return {name: json.loads(path.read_text()) for name, path in NET_RESULTS.items()}
