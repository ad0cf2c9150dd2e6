# SPDX-License-Identifier: MIT
"""Linux end to end over `--net user` (user-mode networking, libslirp): the
guest gets its address by DHCP, fetches a file from a web server on the
host's loopback through 10.0.2.2, and a forwarded host port reaches a server
in the guest. Booted on the nested AMD-V host by tests/linux/nested_net_user.py,
as tests/linux/test_linux_e2e.py does its boots.

Written before the virtio-net device (and `--net` on the command line) was
merged: it needs them, plus CONFIG_PACKET (udhcpc's raw socket), CONFIG_INET,
CONFIG_UNIX and CONFIG_VIRTIO_NET in kernel/linux-small.config and busybox's
udhcpc, ip, wget, nc and sha256sum applets in the initramfs."""
import json
import subprocess

import pytest

from paths import BUILD, ROOT

pytestmark = pytest.mark.linux

RESULTS = BUILD / "nested" / "net-user.json"
NESTED_TIMEOUT = 1500


@pytest.fixture(scope="module")
def boot(linux_guest):
    subprocess.run(["make", "-s", "linux-small"], cwd=ROOT, check=True, timeout=1800)
    RESULTS.unlink(missing_ok=True)
    proc = subprocess.run(
        ["bash", "scripts/nested-host.sh",
         f"/usr/bin/python3 tests/linux/nested_net_user.py {RESULTS}"],
        cwd=ROOT, capture_output=True, text=True, timeout=NESTED_TIMEOUT + 60,
        env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "NESTED_TIMEOUT": str(NESTED_TIMEOUT)})
    assert proc.returncode == 0 and RESULTS.exists(), \
        f"the nested host failed ({proc.returncode}):\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}"
    return json.loads(RESULTS.read_text())


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
