# SPDX-License-Identifier: MIT
"""Linux end to end over `--net tap=NAME`: in a network namespace the test
makes (tests/linux/nested_net_tap.py under `unshare --net`, on the nested
AMD-V host, in the same run as the user-mode boot: conftest.py's
nested_net), the guest gets its address by DHCP from busybox's udhcpd on the
tap, pings the tap's side, and moves 256 MiB over TCP each way, checksummed
(SHA-256) on both ends."""
import pytest

pytestmark = pytest.mark.linux


@pytest.fixture(scope="module")
def boot(nested_net):
    """The tap boot of the nested host's networking run (conftest.py)."""
    return nested_net["tap"]


def marker(result, key):
    """The value of the guest's "kiln-net: KEY VALUE" line."""
    for line in result["output"].splitlines():
        if line.startswith(f"kiln-net: {key}"):
            return line[len(f"kiln-net: {key}"):].strip()
    raise AssertionError(f"no 'kiln-net: {key}' line:\n{result['output'][-3000:]}"
                         f"\n{result['stderr'][-1000:]}")


def test_the_guest_gets_its_address_over_the_tap(boot):
    assert marker(boot, "dhcp") == "0"
    assert marker(boot, "addr") == "10.1.0.2/24"


def test_the_guest_pings_the_taps_side(boot):
    assert marker(boot, "ping") == "0"


def test_256_mib_from_the_host_into_the_guest_checksummed(boot):
    assert "host_sent" in boot, "the host never sent: the guest did not connect"
    assert marker(boot, "received") == boot["host_sent"]


def test_256_mib_from_the_guest_to_the_host_checksummed(boot):
    assert boot.get("host_received_bytes") == 256 << 20
    assert marker(boot, "sent") == boot["host_received"]


def test_the_guest_powers_off_and_kiln_exits_0(boot):
    assert boot["status"] == 0, boot["stderr"][-2000:]
