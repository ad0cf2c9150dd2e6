# SPDX-License-Identifier: MIT
"""Networking and the jail. A jailed kiln that builds its machine inside
the jail (--config-file, the API) has an empty network namespace: a tap
named there fails with one line saying what to do; with --jail-netns the
jail joins the namespace holding the tap (owned by the jail's user, with
/dev/net/tun in the jail, as Firecracker's jailer sets it up) and the test
guest ARPs and pings through it. --net with --kernel opens the tap before
the jail. Every tap is in a namespace the test makes."""
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "guest"))
import vmm  # noqa: E402

TIMEOUT = 60
NOBODY = 65534
TAP = "kjail0"
MAC = "02:00:00:78:00:02"


def ns_ip(netns, *args):
    subprocess.run(["ip", "netns", "exec", netns, "ip", *args], check=True,
                   capture_output=True)


@pytest.fixture
def netns():
    assert os.geteuid() == 0, "the jail tests start kiln as root (the jail needs it)"
    name = f"kiln-jailnet-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        ns_ip(name, "tuntap", "add", "dev", TAP, "mode", "tap", "user", str(NOBODY),
              "group", str(NOBODY))
        ns_ip(name, "addr", "add", "10.78.0.1/24", "dev", TAP)
        ns_ip(name, "link", "set", TAP, "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)


def make_jail(tmp_path, with_tun):
    jail = tmp_path / "jail"
    jail.mkdir()
    jail.chmod(0o755)
    shutil.copy(vmm.guest_path("virtio_net"), jail / "g.elf")
    if with_tun:
        (jail / "dev" / "net").mkdir(parents=True)
        tun = jail / "dev" / "net" / "tun"
        os.mknod(tun, 0o600 | 0o020000, os.makedev(10, 200))
        os.chown(tun, NOBODY, NOBODY)
    return jail


def config_file(tmp_path):
    config = tmp_path / "vm.json"
    config.write_text(json.dumps({
        "boot-source": {"kernel_image_path": "/g.elf", "boot_args": ""},
        "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
        "network-interfaces": [{"iface_id": "eth0", "host_dev_name": TAP, "guest_mac": MAC}],
    }))
    return config


def jail_args(jail):
    return ["--jail", str(jail), "--uid", str(NOBODY), "--gid", str(NOBODY)]


def run(argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL)


def test_config_file_tap_in_a_jail_without_netns_is_one_clear_error(kiln, kvm, tmp_path,
                                                                    netns):
    jail = make_jail(tmp_path, with_tun=True)
    proc = run(["ip", "netns", "exec", netns, kiln, "run", "--debug-exit", "--config-file",
                str(config_file(tmp_path)), *jail_args(jail)])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("kiln: error: "), lines
    assert f"tap '{TAP}'" in lines[0] and "--jail-netns" in lines[0]


def test_jail_netns_joins_the_taps_namespace(kiln, kvm, tmp_path, netns):
    jail = make_jail(tmp_path, with_tun=True)
    proc = run([kiln, "run", "--debug-exit", "--config-file", str(config_file(tmp_path)),
                *jail_args(jail), "--jail-netns", f"/var/run/netns/{netns}"])
    vmm.assert_passed(proc.returncode, proc.stdout, proc.stderr)
    assert "PASS: ICMP: the host answered the echo request" in proc.stdout


def test_net_with_kernel_opens_the_tap_before_the_jail(kiln, kvm, tmp_path, netns):
    jail = make_jail(tmp_path, with_tun=False)
    proc = run(["ip", "netns", "exec", netns, kiln, "run", "--debug-exit", "--memory", "64",
                "--kernel", vmm.guest_path("virtio_net"), "--net", f"tap={TAP},mac={MAC}",
                *jail_args(jail)])
    vmm.assert_passed(proc.returncode, proc.stdout, proc.stderr)
    assert "PASS: ICMP: the host answered the echo request" in proc.stdout


def test_jail_netns_needs_the_jail(kiln):
    proc = run([kiln, "run", "--kernel", "x", "--jail-netns", "/var/run/netns/x"])
    assert proc.returncode == 2
    assert "--jail-netns" in proc.stderr
