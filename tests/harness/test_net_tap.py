# SPDX-License-Identifier: MIT
"""virtio-net over a real tap with the host harness as the guest's driver
(tests/harness/net_tap.c), inside a network namespace this test makes and
removes, so no interface of the host is touched: control-queue commands,
ARP and ICMP with the namespace's kernel, a TCP connection whose data goes
out as one TSO frame and comes back as GSO frames over mergeable buffers,
two queue pairs, pause and reset with frames in flight, hostile chains."""
import os
import subprocess

import pytest

from paths import BUILD

TAP = "ktap0"


def ip(*args, netns=None):
    cmd = ["ip"] + (["netns", "exec", netns, "ip"] if netns else []) + list(args)
    subprocess.run(cmd, check=True, capture_output=True, text=True)


@pytest.fixture
def netns():
    # Network namespaces need root, as the whole suite does here and in CI.
    assert os.geteuid() == 0, "this test makes a network namespace: run it as root"
    name = f"kiln-net-{os.getpid()}"
    ip("netns", "add", name)
    try:
        ip("tuntap", "add", "dev", TAP, "mode", "tap", "multi_queue", netns=name)
        ip("addr", "add", "10.77.0.1/24", "dev", TAP, netns=name)
        ip("link", "set", TAP, "up", netns=name)
        ip("link", "set", "lo", "up", netns=name)
        yield name
    finally:
        ip("netns", "delete", name)


@pytest.mark.parametrize("binary", ["net-tap", "net-tap-tsan"])
def test_frames_through_a_tap_in_a_namespace(netns, binary):
    path = BUILD / "harness" / binary
    assert path.is_file(), f"{path} is missing: run `make`"
    proc = subprocess.run(["ip", "netns", "exec", netns, str(path), TAP],
                          capture_output=True, text=True, timeout=300)
    assert "ThreadSanitizer" not in proc.stderr, proc.stderr[:4000]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for step in ["ctrl", "arp", "icmp", "tso out", "gso in", "queue pairs", "pause", "reset",
                 "hostile"]:
        assert f"ok: {step}" in proc.stdout, proc.stdout
    assert proc.stdout.rstrip().endswith("all ok")

