# SPDX-License-Identifier: MIT
"""Linux end to end over `--net tap=NAME`: in a network namespace the driver
makes (tests/linux/nested_net_tap.py under `unshare --net`, on the shared
nested AMD-V host: conftest.py), the guest gets its address from udhcpd on
the tap's side, pings it, and moves 256 MiB each way over TCP, checksummed
(MD5) where it was sent and where it arrived."""
import re

import pytest

# linux_tap: not in make check while the nested host's kernel stalls under this
# test's guest-to-host traffic (README, "The nested AMD-V host"); run it with
# `/usr/bin/python3 -m pytest -m linux_tap tests/linux`.
pytestmark = [pytest.mark.linux, pytest.mark.linux_tap, pytest.mark.nested_driver("net_tap")]

TOTAL = 256 << 20


@pytest.fixture(scope="module")
def boot(nested_run):
    return nested_run.results("net_tap")


def marker(result, key):
    """The value of the guest's "kiln-net: KEY VALUE" line."""
    for line in result["output"].splitlines():
        if line.startswith(f"kiln-net: {key}"):
            return line[len(f"kiln-net: {key}"):].strip()
    raise AssertionError(f"no 'kiln-net: {key}' line:\n{result['output'][-3000:]}"
                         f"\n{result['stderr'][-1000:]}")


def test_the_guest_gets_its_address_by_dhcp_over_the_tap(boot):
    assert marker(boot, "dhcp") == "0"
    assert marker(boot, "addr") == "10.1.0.2/24"


def test_the_guest_pings_the_taps_side(boot):
    assert marker(boot, "ping") == "0"


def test_256_mib_into_the_guest_checksummed(boot):
    assert boot["total"] == TOTAL
    assert "host_sent" in boot, f"the host never sent its bytes:\n{boot['output'][-3000:]}"
    assert re.fullmatch(r"[0-9a-f]{32}", boot["host_sent"])
    assert marker(boot, "received") == boot["host_sent"]


def test_256_mib_out_of_the_guest_checksummed(boot):
    assert boot.get("host_received_bytes") == TOTAL, boot["output"][-3000:]
    assert re.fullmatch(r"[0-9a-f]{32}", marker(boot, "sent"))
    assert marker(boot, "sent") == boot["host_received"]


def test_the_guest_powers_off_and_kiln_exits_0(boot):
    assert boot["status"] == 0, boot["stderr"][-2000:]
