# SPDX-License-Identifier: MIT
"""Linux end to end over `--net user` (user-mode networking, libslirp): the
guest gets its address by DHCP, fetches a file from a web server on the
host's loopback through 10.0.2.2, and a forwarded host port reaches a server
in the guest. Booted on the nested AMD-V host (shared: conftest.py) by
tests/linux/nested_net_user.py.

Written before the virtio-net device (and `--net` on the command line) was
merged: it needs them, plus CONFIG_PACKET (udhcpc's raw socket), CONFIG_INET,
CONFIG_UNIX and CONFIG_VIRTIO_NET in kernel/linux-small.config and busybox's
udhcpc, ip, wget, nc and sha256sum applets in the initramfs."""
import pytest

pytestmark = [pytest.mark.linux, pytest.mark.nested_driver("net_user")]


@pytest.fixture(scope="module")
def boot(nested_run):
    """The user-mode driver's run on the shared nested host (conftest.py)."""
    return nested_run.results("net_user")


def marker(result, key):
    """The value of the guest's "kiln-net: KEY VALUE" line."""
    for line in result["output"].splitlines():
        if line.startswith(f"kiln-net: {key}"):
            return line[len(f"kiln-net: {key}"):].strip()
    raise AssertionError(f"no 'kiln-net: {key}' line:\n{result['output'][-3000:]}"
                         f"\n{result['stderr'][-1000:]}")


def test_the_guest_gets_its_address_by_dhcp(boot):
    assert marker(boot, "dhcp") == "0"
    assert marker(boot, "addr") == "10.0.2.15/24"


def test_the_guest_fetches_a_file_from_the_hosts_loopback(boot):
    assert marker(boot, "fetched") == boot["blob"]


def test_a_forwarded_host_port_reaches_a_server_in_the_guest(boot):
    assert marker(boot, "listening") == ""
    assert boot["forwarded"] == marker(boot, "reply")
    assert marker(boot, "served") == ""


def test_the_guest_powers_off_and_kiln_exits_0(boot):
    assert boot["status"] == 0, boot["stderr"][-2000:]
