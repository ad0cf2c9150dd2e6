# SPDX-License-Identifier: MIT
"""--net on the command line: bad settings are usage errors with one line;
a tap that cannot be opened or configured is one clear error line; a tap
that does not exist is created for the run and gone after it; --net user
alone is user-mode networking, and a forward to a taken port is one clear
error line. The taps live in
a network namespace each test makes, so no host interface is touched."""
import os
import socket
import subprocess

import pytest

import tinyguest
from test_cli_errors import ERROR, USAGE, one_error_line, run


@pytest.mark.parametrize("args,needle", [
    (["--net", "tap="], "tap"),
    (["--net", "tap=averyveryverylongname"], "averyveryverylongname"),
    (["--net", "tap=t0,queues=9"], "queues"),
    (["--net", "tap=t0,queues=0"], "queues"),
    (["--net", "tap=t0,mac=01:00:00:00:00:01"], "mac"),
    (["--net", "tap=t0,mac=02:00:00:00:00"], "mac"),
    (["--net", "tap=t0,hostfwd=tcp::80-:80"], "hostfwd"),
    (["--net", "user,hostfwd=tcp::99999-:80"], "hostfwd"),
    (["--net", "user,hostfwd=tcp:1.2.3:80-:80"], "hostfwd"),
    (["--net", "bridge=br0"], "bridge"),
    (["--net", "user", "--net", "user", "--net", "user", "--net", "user", "--net", "user"],
     "at most 4"),
])
def test_net_usage_errors(kiln, args, needle):
    proc = run(kiln, "run", "--kernel", "x", *args)
    assert proc.returncode == USAGE
    one_error_line(proc, needle)


def ip(*args, netns=None):
    cmd = ["ip"] + (["netns", "exec", netns, "ip"] if netns else []) + list(args)
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def netns():
    assert os.geteuid() == 0, "this test makes a network namespace: run it as root"
    name = f"kiln-netcli-{os.getpid()}"
    ip("netns", "add", name)
    try:
        yield name
    finally:
        ip("netns", "delete", name)


def run_in(netns, kiln, *args):
    return run("ip", "netns", "exec", netns, kiln, *args)


def test_tap_created_for_the_run_and_gone_after(kiln, kvm, tmp_path, netns):
    kernel = tinyguest.write(tmp_path / "g.elf", "", "poweroff")
    proc = run_in(netns, kiln, "run", "--kernel", kernel, "--net", "tap=kfresh0,queues=2")
    assert proc.returncode == 0, proc.stderr
    assert "kfresh0" not in ip("-o", "link", netns=netns)


def test_tap_with_other_flags_is_one_clear_error(kiln, kvm, tmp_path, netns):
    kernel = tinyguest.write(tmp_path / "g.elf", "", "poweroff")
    ip("tuntap", "add", "dev", "kplain0", "mode", "tap", netns=netns)  # not multi_queue
    proc = run_in(netns, kiln, "run", "--kernel", kernel, "--net", "tap=kplain0,queues=2")
    assert proc.returncode == ERROR
    one_error_line(proc, "tap 'kplain0'", "multi_queue")


def test_net_alone_is_user_mode_networking(kiln, kvm, tmp_path):
    """A newcomer's --net: user-mode networking, no root, no tap; the machine runs."""
    kernel = tinyguest.write(tmp_path / "g.elf", "", "poweroff")
    proc = run(kiln, "run", "--kernel", kernel, "--net")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr


def test_forward_to_a_taken_port_is_one_clear_error(kiln, kvm, tmp_path):
    kernel = tinyguest.write(tmp_path / "g.elf", "", "poweroff")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run(kiln, "run", "--kernel", kernel, "--net", f"user,hostfwd=tcp::{port}-:80")
    assert proc.returncode == ERROR
    one_error_line(proc, f"host port {port} is taken")
