# SPDX-License-Identifier: MIT
"""ACPI S3 woken through the API: a guest sleeps with no wake source armed,
and Firecracker's SendCtrlAltDel, which on a sleeping machine is a press of
the power button, wakes it at its FACS waking vector. The test guest runs
here (kvm); the Linux guest needs a KVM that runs a Linux userspace
(linux_kvm: on PVM hosts, the nested host)."""
import re
import pathlib
import shutil
import tempfile
import time

from kiln_api import Kiln, request, wait_for_socket
from apiclient import short_dir
from guest_rootfs import KERNEL, make_rootfs
from paths import BUILD

GUEST = BUILD / "guest" / "s3.elf"
TIMEOUT = 60


class VerboseKiln(Kiln):
    """kiln --verbose, its stderr lines kept as they come (kiln says there
    when the guest sleeps and wakes)."""

    def _read_err(self):
        self.err_lines = []
        for raw in self.proc.stderr:
            with self.cond:
                self.err_lines.append(raw.decode(errors="replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_err_line(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                lines = getattr(self, "err_lines", [])
                if any(re.search(pattern, l) for l in lines):
                    return
                left = deadline - time.monotonic()
                assert left > 0 and self.proc.poll() is None, \
                    f"no stderr line matching {pattern!r}:\n" + "\n".join(lines)
                self.cond.wait(min(left, 1.0))


def test_send_ctrl_alt_del_wakes_a_sleeping_guest(kvm):
    assert GUEST.is_file(), f"{GUEST} is missing: run `make`"
    sock = short_dir() / "api.sock"
    kiln = VerboseKiln(["run", "--api-sock", str(sock), "--kernel", str(GUEST), "--memory",
                        "64", "--cmdline", "wake=button", "--debug-exit", "--verbose"])
    try:
        wait_for_socket(str(sock), kiln.proc)
        index, _, _ = kiln.wait_line(r"INFO: entering S3, woken by the power button", TIMEOUT)
        kiln.wait_err_line(r"kiln: info: the guest sleeps in ACPI S3", TIMEOUT)
        # Asleep, it stays asleep: nothing else arms a wake.
        time.sleep(2)
        assert "PASS: woke" not in kiln.output(), kiln.output()
        assert kiln.proc.poll() is None
        code, body = request(sock, "PUT", "/actions", {"action_type": "SendCtrlAltDel"})
        assert code == 204, body
        kiln.wait_line(r"^SUMMARY: ", TIMEOUT, start=index)
        status = kiln.wait_exit(TIMEOUT)
        out = kiln.output()
        assert "FAIL" not in out, out
        for check in ("woke in real mode at the FACS waking vector (CS 0x300, IP 0)",
                      "RAM kept across S3 (marker intact)",
                      "PM1 status shows WAK_STS and the wake source"):
            assert f"PASS: {check}" in out, out
        assert any("wakes from ACPI S3 (power button)" in l for l in kiln.err_lines)
        assert status == 1, f"debug-exit code 0 gives status 1, got {status}:\n{out}"
    finally:
        kiln.kill()
        shutil.rmtree(sock.parent, ignore_errors=True)


# An emulated nested host boots the small kernel in 10-40 s; be generous.
LINUX_TIMEOUT = 300


def test_send_ctrl_alt_del_wakes_a_suspended_linux(linux_kvm):
    """Linux sleeps on `echo mem > /sys/power/state` with nothing armed;
    SendCtrlAltDel wakes it (userspace goes on after the write), and the
    same request on the running guest is Ctrl-Alt-Del again: it reboots and
    kiln exits 0."""
    assert KERNEL.is_file(), f"{KERNEL} is missing: run `make linux-small`"
    images = pathlib.Path(tempfile.mkdtemp(prefix="kiln-s3-", dir="/var/tmp"))
    sock = short_dir() / "api.sock"
    kiln = VerboseKiln(["run", "--api-sock", str(sock), "--verbose"])
    try:
        rootfs = make_rootfs(images)
        wait_for_socket(str(sock), kiln.proc)
        for path, body in (
                ("/machine-config", {"vcpu_count": 2, "mem_size_mib": 256}),
                ("/boot-source", {"kernel_image_path": str(KERNEL),
                                  "boot_args": "console=ttyS0 reboot=k panic=1 kiln.s3"}),
                ("/drives/rootfs", {"drive_id": "rootfs", "path_on_host": str(rootfs),
                                    "is_root_device": True, "is_read_only": False}),
                ("/actions", {"action_type": "InstanceStart"})):
            code, reply = request(sock, "PUT", path, body)
            assert code == 204, (path, reply)
        _, _, states = kiln.wait_line(r"kiln-guest: power states (.*)", LINUX_TIMEOUT)
        assert "mem" in states.group(1).split(), states.group(0)
        index, _, _ = kiln.wait_line(r"kiln-guest: suspending", LINUX_TIMEOUT)
        kiln.wait_err_line(r"kiln: info: the guest sleeps in ACPI S3", LINUX_TIMEOUT)
        assert "resumed from S3" not in kiln.output()
        code, reply = request(sock, "PUT", "/actions", {"action_type": "SendCtrlAltDel"})
        assert code == 204, reply
        kiln.wait_line(r"kiln-guest: resumed from S3", LINUX_TIMEOUT, start=index)
        assert any("wakes from ACPI S3 (power button)" in l for l in kiln.err_lines)
        code, reply = request(sock, "PUT", "/actions", {"action_type": "SendCtrlAltDel"})
        assert code == 204, reply
        status = kiln.wait_exit(LINUX_TIMEOUT)
        assert status == 0, f"status {status}:\n{kiln.output()[-3000:]}"
    finally:
        kiln.kill()
        shutil.rmtree(sock.parent, ignore_errors=True)
        shutil.rmtree(images, ignore_errors=True)
