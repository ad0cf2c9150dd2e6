# SPDX-License-Identifier: MIT
"""The API with a Linux guest: Firecracker's getting-started sequence typed
with curl, the same machine from --config-file, pause and resume under disk
load, and a drive swapped under a running guest. These need KVM (on a
machine without it, or where KVM is PVM, `make check` runs them on the nested
AMD-V host)."""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from guest_rootfs import BLOCK, KERNEL, block_text, make_rootfs
from apiclient import short_dir
from kiln_api import Kiln, request, wait_for_socket

# An emulated nested host boots the small kernel in 10-40 s; be generous.
BOOT_TIMEOUT = 300
EXIT_TIMEOUT = 120
# As Firecracker's guide types them (pci=off included: kiln drops it, its
# devices being PCI ones).
BOOT_ARGS = "console=ttyS0 reboot=k panic=1 pci=off"


@pytest.fixture
def images():
    """A directory for disk images on a real file system: /var/tmp, which the
    nested host puts on its ext4 scratch disk (its /tmp is tmpfs)."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="kiln-api-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def rootfs(images):
    assert KERNEL.is_file(), f"{KERNEL} is missing: run `make linux-small`"
    return make_rootfs(images)


def curl(sock, method, path, body=None):
    """curl --unix-socket as a user types it; returns (status, body text)."""
    argv = ["curl", "-sS", "--unix-socket", str(sock), "-X", method, f"http://localhost{path}",
            "-H", "Accept: application/json", "-H", "Content-Type: application/json",
            "-w", "\n%{http_code}"]
    if body is not None:
        argv += ["-d", json.dumps(body)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout
    text, _, code = out.rpartition("\n")
    return int(code), text


def check_root(kiln, mode):
    """The root drive is vda, ext4, mounted mode; kiln said so on the
    command line and dropped pci=off."""
    _, _, root = kiln.wait_line(r"kiln-guest: root (\S+) (\S+) (\S+) (\S+)", 30)
    major, minor = (int(x) for x in root.group(2).split(":"))
    assert int(root.group(1)) == os.makedev(major, minor), f"/ is not on vda: {root.group(0)}"
    assert root.group(3) == "ext4" and root.group(4).startswith(mode), root.group(0)
    _, _, cmdline = kiln.wait_line(r"kiln-guest: cmdline (.*)", 30)
    words = cmdline.group(1).split()
    assert "root=/dev/vda" in words and mode in words, words
    assert "pci=off" not in words, words


def start_api(tmp_path, extra=()):
    sock = short_dir() / "kiln.sock"
    kiln = Kiln(["run", "--api-sock", str(sock)] + list(extra))
    wait_for_socket(sock, kiln.proc)
    return kiln, sock


def configure(sock, rootfs, cpus=2, memory=256, boot_args=BOOT_ARGS, send=curl):
    assert send(sock, "PUT", "/machine-config",
                {"vcpu_count": cpus, "mem_size_mib": memory})[0] == 204
    assert send(sock, "PUT", "/boot-source",
                {"kernel_image_path": str(KERNEL), "boot_args": boot_args})[0] == 204
    assert send(sock, "PUT", "/drives/rootfs",
                {"drive_id": "rootfs", "path_on_host": str(rootfs), "is_root_device": True,
                 "is_read_only": False})[0] == 204


def test_getting_started_with_curl(linux_kvm, tmp_path, rootfs):
    kiln, sock = start_api(tmp_path)
    try:
        code, body = curl(sock, "GET", "/")
        assert code == 200 and json.loads(body)["state"] == "Not started", body
        configure(sock, rootfs)
        code, body = curl(sock, "PUT", "/actions", {"action_type": "InstanceStart"})
        assert code == 204, body
        kiln.wait_line(r"kiln-guest: ready", BOOT_TIMEOUT)
        check_root(kiln, "rw")
        info = json.loads(curl(sock, "GET", "/")[1])
        assert info["state"] == "Running"
        config = json.loads(curl(sock, "GET", "/vm/config")[1])
        assert config["machine-config"]["vcpu_count"] == 2
        assert config["drives"][0]["drive_id"] == "rootfs"
        # Pre-boot-only requests are refused once the machine runs.
        for method, path, body in (
                ("PUT", "/boot-source", {"kernel_image_path": str(KERNEL)}),
                ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}),
                ("PUT", "/drives/other", {"drive_id": "other", "path_on_host": str(rootfs),
                                          "is_root_device": False}),
                ("PUT", "/actions", {"action_type": "InstanceStart"})):
            code, text = curl(sock, method, path, body)
            assert code == 400, (path, code, text)
            assert json.loads(text)["fault_message"], text
        code, body = curl(sock, "PUT", "/actions", {"action_type": "SendCtrlAltDel"})
        assert code == 204, body
        status = kiln.wait_exit(EXIT_TIMEOUT)
        assert status == 0, f"status {status}:\n{kiln.output()[-3000:]}"
        assert not sock.exists(), "kiln removes its socket when it exits"
    finally:
        kiln.kill()


def test_getting_started_in_a_jail(linux_kvm, tmp_path, images, rootfs):
    """The same sequence with kiln in --jail as nobody: the kernel and the
    root file system are in DIR, and the API names them as kiln sees them
    there (README "The jail")."""
    jail = images / "jail"
    jail.mkdir(mode=0o755)
    shutil.copy(KERNEL, jail / "bzImage")
    os.link(rootfs, jail / "rootfs.ext4")
    os.chown(jail / "rootfs.ext4", 65534, 65534)
    kiln, sock = start_api(tmp_path, ["--jail", str(jail), "--uid", "65534", "--gid", "65534"])
    try:
        assert curl(sock, "PUT", "/boot-source",
                    {"kernel_image_path": "/bzImage", "boot_args": BOOT_ARGS})[0] == 204
        assert curl(sock, "PUT", "/drives/rootfs",
                    {"drive_id": "rootfs", "path_on_host": "/rootfs.ext4",
                     "is_root_device": True, "is_read_only": False})[0] == 204
        code, body = curl(sock, "PUT", "/actions", {"action_type": "InstanceStart"})
        assert code == 204, body
        kiln.wait_line(r"kiln-guest: ready", BOOT_TIMEOUT)
        check_root(kiln, "rw")
        code, body = curl(sock, "PUT", "/actions", {"action_type": "SendCtrlAltDel"})
        assert code == 204, body
        status = kiln.wait_exit(EXIT_TIMEOUT)
        assert status == 0, f"status {status}:\n{kiln.output()[-3000:]}"
        assert not sock.exists(), "the jail's parent removes the socket"
    finally:
        kiln.kill()


def test_config_file_boots_the_same_machine(linux_kvm, tmp_path, rootfs):
    config = tmp_path / "vm.json"
    config.write_text(json.dumps({
        "boot-source": {"kernel_image_path": str(KERNEL), "boot_args": BOOT_ARGS},
        "drives": [{"drive_id": "rootfs", "path_on_host": str(rootfs),
                    "is_root_device": True, "is_read_only": True}],
        "machine-config": {"vcpu_count": 1, "mem_size_mib": 192},
    }))
    kiln = Kiln(["run", "--config-file", str(config)])
    try:
        kiln.wait_line(r"kiln-guest: ready", BOOT_TIMEOUT)
        check_root(kiln, "ro")
        kiln.proc.send_signal(signal.SIGTERM)
        assert kiln.wait_exit(EXIT_TIMEOUT) == 128 + signal.SIGTERM
    finally:
        kiln.kill()


def tick(kiln, start, timeout=BOOT_TIMEOUT):
    """The next tick line from index start: (index, host time, seq, guest uptime)."""
    i, t, m = kiln.wait_line(r"kiln-guest: tick (\d+) ([\d.]+)", timeout, start)
    return i, t, int(m.group(1)), float(m.group(2))


def test_pause_and_resume_under_disk_writes(linux_kvm, tmp_path, images, rootfs):
    data = images / "data.img"
    with open(data, "wb") as f:
        f.truncate(64 << 20)
    kiln, sock = start_api(tmp_path)
    send = request
    try:
        configure(sock, rootfs, cpus=2, boot_args=BOOT_ARGS + " kiln.writeloop", send=send)
        assert send(sock, "PUT", "/drives/data", {
            "drive_id": "data", "path_on_host": str(data), "is_root_device": False,
            "is_read_only": False})[0] == 204
        assert send(sock, "PUT", "/actions", {"action_type": "InstanceStart"})[0] == 204
        i, _, _, _ = tick(kiln, 0)
        i, _, _, _ = tick(kiln, i + 1, 60)

        # One long pause: no tick while paused, and the guest goes on after.
        assert send(sock, "PATCH", "/vm", {"state": "Paused"})[0] == 204
        assert send(sock, "GET", "/")[1]["state"] == "Paused"
        assert send(sock, "PATCH", "/vm", {"state": "Paused"})[0] == 204, "a no-op"
        # Lines the guest wrote before it stopped may still be on their way
        # through a loaded (emulated) host: let them arrive, then watch.
        time.sleep(2)
        with kiln.cond:
            seen = len(kiln.lines)
        time.sleep(3)
        with kiln.cond:
            during = [text for _, text in kiln.lines[seen:] if "tick" in text]
        assert not during, f"the guest ran while paused: {during}"
        assert send(sock, "PATCH", "/vm", {"state": "Resumed"})[0] == 204
        assert send(sock, "PATCH", "/vm", {"state": "Resumed"})[0] == 204, "a no-op"
        assert send(sock, "GET", "/")[1]["state"] == "Running"
        i, t0, _, u0 = tick(kiln, seen, 60)

        # 100 pauses in a row under load; the guest's clock must not count them.
        paused = 0.0
        for _ in range(100):
            before = time.monotonic()
            assert send(sock, "PATCH", "/vm", {"state": "Paused"})[0] == 204
            answered = time.monotonic()
            time.sleep(0.1)
            resumed_at = time.monotonic()
            assert send(sock, "PATCH", "/vm", {"state": "Resumed"})[0] == 204
            # Count only time the guest surely could not run.
            paused += resumed_at - answered
            assert answered - before < 30, "pause answered"
        with kiln.cond:
            after = len(kiln.lines)
        i, t1, last_seq, u1 = tick(kiln, after, 60)
        running = (t1 - t0) - paused
        guest = u1 - u0
        # A clock that counted the pauses would be ~paused ahead; half of
        # that is the bound, wide enough for an emulated host's noise.
        assert guest <= running + paused / 2, (
            f"the guest's clock moved {guest:.2f} s while it ran {running:.2f} s "
            f"(paused {paused:.2f} s): it counted paused time")

        assert send(sock, "PUT", "/actions", {"action_type": "SendCtrlAltDel"})[0] == 204
        assert kiln.wait_exit(EXIT_TIMEOUT) == 0, kiln.output()[-3000:]
        image = data.read_bytes()
        for seq in range(1, last_seq + 1):
            text = block_text(seq)
            assert image[seq * BLOCK:seq * BLOCK + len(text)] == text, f"block {seq}"
    finally:
        kiln.kill()


def test_drive_swapped_under_a_running_guest(linux_kvm, tmp_path, images, rootfs):
    small, large = images / "small.img", images / "large.img"
    for path, size in ((small, 8 << 20), (large, 24 << 20)):
        with open(path, "wb") as f:
            f.truncate(size)
    kiln, sock = start_api(tmp_path)
    try:
        configure(sock, rootfs, send=request)
        assert request(sock, "PUT", "/drives/scratch", {
            "drive_id": "scratch", "path_on_host": str(small), "is_root_device": False,
            "is_read_only": False})[0] == 204
        code, body = request(sock, "PATCH", "/drives/scratch",
                             {"drive_id": "scratch", "path_on_host": str(large)})
        assert code == 400, "PATCH /drives is for a running machine"
        assert request(sock, "PUT", "/actions", {"action_type": "InstanceStart"})[0] == 204
        i, _, m = kiln.wait_line(r"kiln-guest: vdb size (\d+)", BOOT_TIMEOUT)
        assert int(m.group(1)) == (8 << 20) // 512
        code, body = request(sock, "PATCH", "/drives/scratch",
                             {"drive_id": "scratch", "path_on_host": str(tmp_path / "nope")})
        assert code == 400 and "nope" in body["fault_message"], body
        code, body = request(sock, "PATCH", "/drives/scratch",
                             {"drive_id": "scratch", "path_on_host": str(large)})
        assert code == 204, body
        _, _, m = kiln.wait_line(r"kiln-guest: vdb size (\d+)", 60, i + 1)
        assert int(m.group(1)) == (24 << 20) // 512, "the guest saw the new capacity"
        assert request(sock, "PUT", "/actions", {"action_type": "SendCtrlAltDel"})[0] == 204
        assert kiln.wait_exit(EXIT_TIMEOUT) == 0
    finally:
        kiln.kill()
