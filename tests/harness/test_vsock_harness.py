# SPDX-License-Identifier: MIT
"""virtio-vsock with its real workers and Unix-socket host side, driven by a
guest vsock stack in the host harness (tests/harness/vsock_harness.c), no
KVM: each scenario as shipped, under AddressSanitizer and under
ThreadSanitizer, with no sanitizer report. The harness checks the bytes and
states itself and ends with "SCENARIO ok: ..."; the numbers it prints are
checked again here."""
import re
import subprocess

import pytest

from paths import BUILD

BUILDS = ["vsock-harness", "vsock-harness-asan", "vsock-harness-tsan"]


def run(binary, tmp_path, *args):
    path = BUILD / "harness" / binary
    assert path.is_file(), f"{path} is missing: run `make harness`"
    proc = subprocess.run([str(path), str(tmp_path), *map(str, args)], capture_output=True,
                          text=True, timeout=900,
                          env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
                               "TSAN_OPTIONS": "halt_on_error=1"})
    assert "Sanitizer" not in proc.stderr, proc.stderr[:4000]
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


@pytest.mark.parametrize("binary", BUILDS)
def test_echo_both_directions_and_refusals(binary, tmp_path):
    assert "echo ok" in run(binary, tmp_path, "echo")


@pytest.mark.parametrize("binary", BUILDS)
def test_bulk_each_way_with_matching_checksums(binary, tmp_path):
    # 1 GiB each way as shipped; the sanitizer builds are slower, 64 MiB.
    mib = 1024 if binary == "vsock-harness" else 64
    out = run(binary, tmp_path, "bulk", mib)
    sums = re.findall(r"(host->guest|guest->host) (\d+) MiB checksum ([0-9a-f]{16})", out)
    assert [(d, int(m)) for d, m, _ in sums] == [("host->guest", mib), ("guest->host", mib)]
    assert f"bulk ok: {mib} MiB each way" in out


@pytest.mark.parametrize("binary", BUILDS)
def test_hundred_connections_at_once(binary, tmp_path):
    out = run(binary, tmp_path, "many", 100)
    assert re.search(r"many ok: 100 connections open at once, 100 echoed", out), out


@pytest.mark.parametrize("binary", BUILDS)
def test_either_side_closing_mid_transfer(binary, tmp_path):
    out = run(binary, tmp_path, "close")
    got = re.search(r"guest RST ended the host's stream after (\d+) bytes", out)
    assert got and 0 < int(got.group(1)) < 4 << 20, out
    assert "no fd left" in out


@pytest.mark.parametrize("binary", BUILDS)
def test_credit_bounds_what_kiln_holds(binary, tmp_path):
    out = run(binary, tmp_path, "credit")
    stopped = re.search(r"host wrote (\d+) bytes, kiln delivered (\d+) \(credit (\d+)\)", out)
    assert stopped, out
    wrote, delivered, credit = map(int, stopped.groups())
    assert delivered <= credit < wrote
    held = re.search(r"peak held for one connection (\d+) <= (\d+)", out)
    assert held and int(held.group(1)) <= int(held.group(2)), out


@pytest.mark.parametrize("binary", BUILDS)
def test_pause_reset_and_teardown_with_connections_open(binary, tmp_path):
    out = run(binary, tmp_path, "lifecycle")
    for line in ("pause ok", "reset ok: streams closed, no fd left, TRANSPORT_RESET sent",
                 "lifecycle ok"):
        assert line in out, out
    assert not (tmp_path / "v.sock").exists()


@pytest.mark.parametrize("binary", BUILDS)
def test_snapshot_restore_resets_the_transport(binary, tmp_path):
    out = run(binary, tmp_path, "snapshot")
    got = re.search(r"snapshot ok: (\d+) TRANSPORT_RESET, (\d+) streams closed", out)
    assert got, out
    assert int(got.group(1)) == 1, out


@pytest.mark.parametrize("binary", BUILDS)
def test_ten_thousand_cycles_from_several_threads(binary, tmp_path):
    out = run(binary, tmp_path, "cycles", 10000, 4)
    got = re.search(r"cycles ok: (\d+) .* from (\d+) threads, opened (\d+), closed (\d+)", out)
    assert got, out
    assert list(map(int, got.groups())) == [10000, 4, 10000, 10000]


@pytest.mark.parametrize("binary", BUILDS)
def test_packets_no_driver_should_send(binary, tmp_path):
    out = run(binary, tmp_path, "hostile")
    got = re.search(r"hostile ok: .* \((\d+) RSTs\)", out)
    assert got and int(got.group(1)) == 2, out


@pytest.mark.parametrize("binary", BUILDS)
def test_host_programs_that_never_finish_connect(binary, tmp_path):
    """A program gone mid-line frees its slot; silent ones cannot take the table."""
    out = run(binary, tmp_path, "half-said")
    assert re.search(r"half-said ok: .* 64 silent held, 8 refused", out), out
