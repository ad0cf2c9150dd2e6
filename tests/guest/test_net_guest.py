# SPDX-License-Identifier: MIT
"""A test guest drives kiln's virtio-net under KVM against a real tap in a
network namespace this test makes (so no host interface is touched): it
reads the MAC given with --net and the link status from config space, and
the namespace's kernel answers its ARP request and its ping."""
import os
import subprocess

import pytest

import vmm

TAP = "kguest0"


def ip(netns, *args):
    subprocess.run(["ip", "netns", "exec", netns, "ip", *args], check=True,
                   capture_output=True)


@pytest.fixture
def netns():
    assert os.geteuid() == 0, "this test makes a network namespace: run it as root"
    name = f"kiln-guestnet-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        ip(name, "tuntap", "add", "dev", TAP, "mode", "tap", "multi_queue")
        ip(name, "addr", "add", "10.78.0.1/24", "dev", TAP)
        ip(name, "link", "set", TAP, "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)


@pytest.mark.parametrize("queues", [1, 2])
def test_guest_talks_to_the_namespace_through_the_tap(kvm, netns, queues):
    argv = ["ip", "netns", "exec", netns] + vmm.command(
        "kiln", "virtio_net", memory=64,
        extra=["--net", f"tap={TAP},mac=02:00:00:78:00:02,queues={queues}"])
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=vmm.TIMEOUT,
                          stdin=subprocess.DEVNULL)
    vmm.assert_passed(proc.returncode, proc.stdout, proc.stderr)
    assert "PASS: ARP: the host answered with its MAC" in proc.stdout
    assert "PASS: ICMP: the host answered the echo request" in proc.stdout


def test_no_nic_without_the_option(kvm):
    status, out, err = vmm.run("kiln", "virtio_net", memory=64)
    assert "FAIL: virtio-net found on PCI bus 0" in out
