# SPDX-License-Identifier: MIT
"""Set-up for the Linux guest tests: the `linux` marker, the guest built by
`make linux-guest` (downloaded from Debian the first time), and the one
nested AMD-V host every end-to-end module shares.

A PVM host cannot run a Linux userspace, so the end-to-end drivers
(tests/linux/nested_*.py) run on the nested host (scripts/nested-host.sh),
which takes a while to boot and now and then stalls: the `nested_run`
fixture boots it once per session and runs, one after another, each driver
the selected tests name with `pytest.mark.nested_driver("NAME")`
(tests/linux/nested_drivers.py, each under its own time limit, each writing
into its own directory). A test module then gets its driver's results with
`nested_run.results("NAME")`; a driver that failed or hung fails only its
own tests, with its captured output.

To add a driver: one line in DRIVERS in tests/linux/nested_drivers.py, then
in the test module `pytestmark = [pytest.mark.linux,
pytest.mark.nested_driver("NAME")]` and a fixture returning
`nested_run.results("NAME")`."""
import os
import shlex
import shutil
import signal
import subprocess

import pytest

import nested_drivers
from nested_run import NestedRun
from paths import BUILD, ROOT

GUEST = BUILD / "linux-guest"
GUEST_FILES = ("bzImage", "vmlinux", "initramfs.cpio.gz")
DRIVER_OUT = BUILD / "nested-drivers"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "linux: boots Linux under kiln (slow: the smoke test up to 3 minutes; "
        "the end-to-end tests build the small kernel first, then share one nested host "
        "for about 10 minutes)")
    config.addinivalue_line(
        "markers", "linux_tap: the tap e2e, kept out of make check while the nested host "
        "stalls under its traffic")
    config.addinivalue_line(
        "markers", "nested_driver(name): the test judges what that driver in "
        "tests/linux/nested_drivers.py recorded on the shared nested host")


@pytest.fixture(scope="session")
def linux_guest():
    """build/linux-guest/, built (or found up to date) by `make linux-guest`."""
    subprocess.run(["make", "-s", "linux-guest"], cwd=ROOT, check=True, timeout=900)
    for name in GUEST_FILES:
        assert (GUEST / name).is_file(), f"make linux-guest did not produce {name}"
    return GUEST


def selected_drivers(session):
    """The drivers the selected tests name, in DRIVERS' order."""
    named = {m.args[0] for item in session.items
             for m in item.iter_markers("nested_driver")}
    unknown = named - set(nested_drivers.DRIVERS)
    assert not unknown, f"no such driver in tests/linux/nested_drivers.py: {sorted(unknown)}"
    return [n for n in nested_drivers.DRIVERS if n in named]


def run_on_nested_host(names, out):
    """Boots the nested host once and runs the drivers in it; returns its output."""
    limit = nested_drivers.time_limit(names)
    command = (f"/usr/bin/python3 tests/linux/nested_drivers.py "
               f"{shlex.quote(str(out))} {' '.join(names)}")
    # A session of its own: if even the outer limit passes, QEMU goes too
    # (an orphaned QEMU would hold the scratch disk's lock against the next run).
    proc = subprocess.Popen(["bash", "scripts/nested-host.sh", command], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True,
                            env={"PATH": PATH, "NESTED_TIMEOUT": str(limit)})
    try:
        output, _ = proc.communicate(timeout=limit * 2 + 300)  # a stalled host is rerun once
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        output += "\n(conftest: the nested host ran past its limit and was killed)"
    return f"exit status {proc.returncode}\n{output}"


@pytest.fixture(scope="session")
def nested_run(request, linux_guest):
    """One nested host for every selected driver (the module docstring)."""
    names = selected_drivers(request.session)
    targets = sorted({t for n in names for t in nested_drivers.DRIVERS[n][2]})
    subprocess.run(["make", "-s"] + targets, cwd=ROOT, check=True, timeout=1800)
    shutil.rmtree(DRIVER_OUT, ignore_errors=True)
    DRIVER_OUT.mkdir(parents=True)
    return NestedRun(DRIVER_OUT, names, run_on_nested_host(names, DRIVER_OUT))
