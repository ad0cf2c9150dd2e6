# SPDX-License-Identifier: MIT
"""virtio-vsock end to end with Linux's own driver: the small kernel
(CONFIG_VIRTIO_VSOCKETS built in) and the vsock initramfs (make
linux-vsock: tests/linux/vsock_check.c as /bin/vsock-check), booted under
kiln on the nested AMD-V host by tests/linux/nested_vsock.py. A host program
connects into the guest (CONNECT 5000) and sends 64 MiB; the guest connects
to a host listener on PATH_6000 and sends 64 MiB; both sides' byte counts
and CRC-32s must match."""
import re

import pytest

pytestmark = [pytest.mark.linux, pytest.mark.nested_driver("vsock")]

TOTAL = 64 << 20


@pytest.fixture(scope="module")
def run(nested_run):
    """The vsock driver's run on the shared nested host (conftest.py)."""
    return nested_run.results("vsock")


def guest_value(result, what):
    found = re.search(rf"kiln-guest: vsock {what} (\d+) crc32 ([0-9a-f]{{8}})", result["output"])
    assert found, f"no 'vsock {what}' line:\n{result['output'][-3000:]}"
    return int(found.group(1)), found.group(2)


def test_host_to_guest_64_mib_checksummed(run):
    assert run.get("ok_line", "").startswith("OK "), run
    assert run["host_sent"] == TOTAL
    assert guest_value(run, "received") == (TOTAL, run["host_sent_crc"])


def test_guest_to_host_64_mib_checksummed(run):
    assert run["host_received"] == TOTAL
    assert guest_value(run, "sent") == (TOTAL, run["host_received_crc"])


def test_the_guest_powers_off_and_kiln_cleans_up(run):
    assert "kiln-guest: vsock done" in run["output"], run["output"][-3000:]
    assert run["status"] == 0, run["output"][-3000:]
    assert not run["socket_left"]
