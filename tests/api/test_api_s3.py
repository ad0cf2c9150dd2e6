# SPDX-License-Identifier: MIT
"""ACPI S3 woken through the API: a test guest sleeps with no wake source
armed, and Firecracker's SendCtrlAltDel, which on a sleeping machine is a
press of the power button, wakes it at its FACS waking vector."""
import shutil
import time

from kiln_api import Kiln, request, wait_for_socket
from apiclient import short_dir
from paths import BUILD

GUEST = BUILD / "guest" / "s3.elf"
TIMEOUT = 60


def test_send_ctrl_alt_del_wakes_a_sleeping_guest(kvm):
    assert GUEST.is_file(), f"{GUEST} is missing: run `make`"
    sock = short_dir() / "api.sock"
    kiln = Kiln(["run", "--api-sock", str(sock), "--kernel", str(GUEST), "--memory", "64",
                 "--cmdline", "wake=button", "--debug-exit"])
    try:
        wait_for_socket(str(sock), kiln.proc)
        index, _, _ = kiln.wait_line(r"INFO: entering S3, woken by the power button", TIMEOUT)
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
        assert status == 1, f"debug-exit code 0 gives status 1, got {status}:\n{out}"
    finally:
        kiln.kill()
        shutil.rmtree(sock.parent, ignore_errors=True)
