# SPDX-License-Identifier: MIT
"""Snapshots with a test guest that counts ticks and prints a checksum of
memory it writes (guest/tests/snapshot_count.c): a restored machine goes on
printing exactly the lines the original printed after the snapshot, from
the command line and through the API, 8 clones at once share their memory,
a Diff snapshot on a copy of a Full one restores to the same state, and
every refusal is one clear line with nothing left running."""
import filecmp
import os
import re
import shutil
import struct
import subprocess
import time
import zlib

import pytest

from kiln_api import Kiln, request
from paths import BUILD, KILN

GUEST = BUILD / "guest" / "snapshot_count.elf"
TICK = re.compile(r"^tick=(\d+) sum=([0-9a-f]{16})$")
FILL_MIB = 64      # guest RAM written once at boot, which clones share
MEMORY_MIB = 128


def ticks(text):
    """(tick, sum) of every whole tick line."""
    return [(int(m.group(1)), m.group(2)) for m in map(TICK.match, text.splitlines()) if m]


def next_ticks(vm, count, after=0):
    """Wait for `count` tick lines numbered above `after`; return them."""
    vm.wait_line(r"^tick=\d+ ", 60)
    for _ in range(200):
        got = [t for t in ticks(vm.output()) if t[0] > after]
        if len(got) >= count:
            return got[:count]
        vm.wait_line(r"^tick=\d+ ", 60, start=len(vm.lines))
    raise AssertionError(f"fewer than {count} ticks:\n{vm.output()[-2000:]}")


def boot(tmp, name, *extra, memory=MEMORY_MIB):
    sock = tmp / f"{name}.sock"
    vm = Kiln(["run", "--kernel", str(GUEST), "--memory", str(memory), "--cmdline",
               f"fill={FILL_MIB}", "--api-sock", str(sock), *extra])
    return vm, sock


def pause(sock):
    assert request(sock, "PATCH", "/vm", {"state": "Paused"}) == (204, None)


def resume(sock):
    assert request(sock, "PATCH", "/vm", {"state": "Resumed"}) == (204, None)


def create(sock, state, mem, kind="Full"):
    return request(sock, "PUT", "/snapshot/create", {"snapshot_type": kind,
                                                      "snapshot_path": str(state),
                                                      "mem_file_path": str(mem)})


def private_dirty_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1])
    raise AssertionError("no Private_Dirty in smaps_rollup")


def run_kiln(*args, timeout=30):
    return subprocess.run([str(KILN), *map(str, args)], stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=timeout)


def assert_refused(result, *words):
    """Exit status 1 (2 for usage), one stderr line naming the cause."""
    err = result.stderr.decode(errors="replace").strip()
    assert result.returncode in (1, 2), (result.returncode, err)
    assert len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, err
    assert not ticks(result.stdout.decode(errors="replace")), "the guest ran"


def wait_socket(vm, sock):
    for _ in range(400):
        if sock.exists():
            return
        assert vm.proc.poll() is None, vm.stderr
        time.sleep(0.025)
    raise AssertionError(f"{sock} never appeared")


@pytest.fixture(scope="module")
def snapshot(kvm, tmp_path_factory):
    """A Full snapshot at some tick, the lines the original printed after it
    (when resumed), and the original's private dirty memory."""
    assert GUEST.is_file(), f"{GUEST} is missing: run `make guests`"
    tmp = tmp_path_factory.mktemp("snap")
    vm, sock = boot(tmp, "orig")
    try:
        vm.wait_line(r"^tick=3 ", 60)
        pause(sock)
        state, mem = tmp / "state", tmp / "mem"
        assert create(sock, state, mem) == (204, None)
        last = ticks(vm.output())[-1][0]
        original_dirty = private_dirty_kib(vm.proc.pid)
        resume(sock)
        after = next_ticks(vm, 3, after=last)
    finally:
        vm.kill()
    return {"dir": tmp, "state": state, "mem": mem, "last": last, "after": after,
            "dirty_kib": original_dirty}


def test_restore_from_command_line_goes_on_counting(snapshot):
    vm = Kiln(["run", "--restore", f"{snapshot['state']},mem={snapshot['mem']}"])
    try:
        got = next_ticks(vm, 3)
    finally:
        vm.kill()
    # The very lines the original printed after the snapshot: the count goes
    # on from where it was, and memory is as it was (same checksums).
    assert got == snapshot["after"], (got, snapshot["after"])
    assert got[0][0] == snapshot["last"] + 1


def test_restore_through_api_then_second_load_refused(snapshot, tmp_path):
    sock = tmp_path / "api.sock"
    vm = Kiln(["run", "--api-sock", str(sock)])
    try:
        wait_socket(vm, sock)
        body = {"snapshot_path": str(snapshot["state"]),
                "mem_backend": {"backend_type": "File", "backend_path": str(snapshot["mem"])},
                "resume_vm": True}
        assert request(sock, "PUT", "/snapshot/load", body) == (204, None)
        assert next_ticks(vm, 3) == snapshot["after"]
        assert request(sock, "GET", "/")[1]["state"] == "Running"
        status, reply = request(sock, "PUT", "/snapshot/load", body)
        assert status == 400 and "not allowed after starting" in reply["fault_message"]
    finally:
        vm.kill()


def test_restore_paused_waits_for_resume(snapshot, tmp_path):
    sock = tmp_path / "p.sock"
    vm = Kiln(["run", "--restore", f"{snapshot['state']},mem={snapshot['mem']}", "--paused",
               "--api-sock", str(sock)])
    try:
        wait_socket(vm, sock)
        assert request(sock, "GET", "/")[1]["state"] == "Paused"
        assert not ticks(vm.output()), "a paused machine printed"
        resume(sock)
        assert next_ticks(vm, 2) == snapshot["after"][:2]
    finally:
        vm.kill()


def test_eight_clones_share_the_snapshot_memory(snapshot):
    clones = [Kiln(["run", "--restore", f"{snapshot['state']},mem={snapshot['mem']}"])
              for _ in range(8)]
    try:
        for clone in clones:
            assert next_ticks(clone, 2) == snapshot["after"][:2]
        dirty = [private_dirty_kib(c.proc.pid) for c in clones]
        print(f"original {snapshot['dirty_kib']} KiB private dirty; clones {dirty}")
    finally:
        for clone in clones:
            clone.kill()
    # The original wrote FILL_MIB MiB at boot: that is its own (anonymous,
    # private dirty) memory. A clone maps the snapshot's file privately and
    # holds privately only what it writes after the restore (the guest's
    # 256 KiB region, its stack, kiln's own heap: about 1 MiB here), never
    # the fill: so 8 clones together hold less than one original, where 8
    # boots would hold 8 times as much.
    assert snapshot["dirty_kib"] > FILL_MIB * 1024, snapshot["dirty_kib"]
    assert sum(dirty) < snapshot["dirty_kib"], (dirty, snapshot["dirty_kib"])


def test_diff_on_a_full_copy_restores_like_a_full(kvm, tmp_path):
    sock = tmp_path / "d.sock"
    vm = Kiln(["run", "--api-sock", str(sock)])
    try:
        wait_socket(vm, sock)
        assert request(sock, "PUT", "/machine-config",
                       {"vcpu_count": 1, "mem_size_mib": MEMORY_MIB,
                        "track_dirty_pages": True}) == (204, None)
        assert request(sock, "PUT", "/boot-source",
                       {"kernel_image_path": str(GUEST),
                        "boot_args": f"fill={FILL_MIB}"}) == (204, None)
        status, reply = create(sock, tmp_path / "x", tmp_path / "y")
        assert status == 400, reply
        assert request(sock, "PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
        vm.wait_line(r"^tick=2 ", 60)
        pause(sock)
        status, reply = create(sock, tmp_path / "d0", tmp_path / "m0", "Diff")
        assert status == 400 and "Full snapshot" in reply["fault_message"], reply
        assert create(sock, tmp_path / "base", tmp_path / "mem-base") == (204, None)
        resume(sock)
        first = ticks(vm.output())[-1][0]
        next_ticks(vm, 3, after=first)
        pause(sock)
        # A Diff goes only into an existing RAM image, checked before the
        # dirty logs are taken: these refusals cost the Diff below nothing.
        status, reply = create(sock, tmp_path / "diff", tmp_path / "no-such-file", "Diff")
        assert status == 400 and "cannot open the memory file" in reply["fault_message"], reply
        (tmp_path / "short").write_bytes(b"\0" * 4096)
        status, reply = create(sock, tmp_path / "diff", tmp_path / "short", "Diff")
        assert status == 400 and "not a RAM image" in reply["fault_message"], reply
        assert not (tmp_path / "no-such-file").exists() and not (tmp_path / "diff").exists()
        shutil.copyfile(tmp_path / "mem-base", tmp_path / "mem-diff")
        assert create(sock, tmp_path / "diff", tmp_path / "mem-diff", "Diff") == (204, None)
        assert create(sock, tmp_path / "full", tmp_path / "mem-full") == (204, None)
        last = ticks(vm.output())[-1][0]
        resume(sock)
        truth = next_ticks(vm, 2, after=last)
    finally:
        vm.kill()
    # The Diff wrote pages: without them the copy is the older base.
    assert not filecmp.cmp(tmp_path / "mem-diff", tmp_path / "mem-base", shallow=False)
    for state, mem in (("diff", "mem-diff"), ("full", "mem-full")):
        clone = Kiln(["run", "--restore", f"{tmp_path / state},mem={tmp_path / mem}"])
        try:
            assert next_ticks(clone, 2) == truth, state
        finally:
            clone.kill()


# ---- refusals ----

def test_create_on_running_machine_refused(kvm, tmp_path):
    vm, sock = boot(tmp_path, "run")
    try:
        vm.wait_line(r"^tick=1 ", 60)
        status, reply = create(sock, tmp_path / "s", tmp_path / "m")
        assert status == 400 and "paused" in reply["fault_message"], reply
        assert not (tmp_path / "s").exists() and not (tmp_path / "m").exists()
    finally:
        vm.kill()


def test_diff_without_dirty_tracking_refused(kvm, tmp_path):
    vm, sock = boot(tmp_path, "nodirty")
    try:
        vm.wait_line(r"^tick=1 ", 60)
        pause(sock)
        assert create(sock, tmp_path / "s", tmp_path / "m") == (204, None)
        status, reply = create(sock, tmp_path / "d", tmp_path / "m", "Diff")
        assert status == 400 and "track_dirty_pages" in reply["fault_message"], reply
        assert not (tmp_path / "d").exists()
    finally:
        vm.kill()


def test_load_after_configuring_refused(kvm, snapshot, tmp_path):
    sock = tmp_path / "c.sock"
    vm = Kiln(["run", "--api-sock", str(sock)])
    try:
        wait_socket(vm, sock)
        assert request(sock, "PUT", "/boot-source",
                       {"kernel_image_path": str(GUEST)}) == (204, None)
        status, reply = request(sock, "PUT", "/snapshot/load",
                                {"snapshot_path": str(snapshot["state"]),
                                 "mem_file_path": str(snapshot["mem"])})
        assert status == 400 and "boot-specific" in reply["fault_message"], reply
    finally:
        vm.kill()


def test_failed_load_leaves_no_machine(snapshot, tmp_path):
    short = tmp_path / "short-mem"
    with open(snapshot["mem"], "rb") as src, open(short, "wb") as dst:
        dst.write(src.read(1 << 20))
    sock = tmp_path / "f.sock"
    vm = Kiln(["run", "--api-sock", str(sock)])
    try:
        wait_socket(vm, sock)
        body = {"snapshot_path": str(snapshot["state"]), "mem_file_path": str(short),
                "resume_vm": True}
        status, reply = request(sock, "PUT", "/snapshot/load", body)
        assert status == 400 and "memory file" in reply["fault_message"], reply
        assert request(sock, "GET", "/")[1]["state"] == "Not started"
        body["mem_file_path"] = str(snapshot["mem"])
        assert request(sock, "PUT", "/snapshot/load", body) == (204, None)
        assert next_ticks(vm, 1) == snapshot["after"][:1]
    finally:
        vm.kill()


def corrupt(snapshot, tmp_path, edit):
    data = bytearray(snapshot["state"].read_bytes())
    edit(data)
    path = tmp_path / "edited"
    path.write_bytes(bytes(data))
    return run_kiln("run", "--restore", f"{path},mem={snapshot['mem']}")


def test_truncated_state_refused(snapshot, tmp_path):
    assert_refused(corrupt(snapshot, tmp_path, lambda d: d.__delitem__(slice(len(d) // 2, None))),
                   "truncated")


def test_flipped_byte_refused(snapshot, tmp_path):
    def flip(d):
        d[len(d) // 2] ^= 0x40
    assert_refused(corrupt(snapshot, tmp_path, flip), "checksum")


def test_other_format_version_refused(snapshot, tmp_path):
    def version_99(d):
        d[8:12] = struct.pack("<I", 99)
        d[28:32] = struct.pack("<I", zlib.crc32(bytes(d[:28])))
    assert_refused(corrupt(snapshot, tmp_path, version_99), "version 99")


def test_memory_file_of_wrong_size_refused(snapshot, tmp_path):
    mem = tmp_path / "mem"
    shutil.copyfile(snapshot["mem"], mem)
    os.truncate(mem, MEMORY_MIB << 19)
    assert_refused(run_kiln("run", "--restore", f"{snapshot['state']},mem={mem}"),
                   "memory file", str(MEMORY_MIB << 20))


def test_vcpu_count_mismatch_refused(snapshot):
    assert_refused(run_kiln("run", "--restore", f"{snapshot['state']},mem={snapshot['mem']}",
                            "--cpus", "2"), "--cpus 2", "1 vCPUs")


def test_restore_with_kernel_refused(snapshot):
    result = run_kiln("run", "--restore", f"{snapshot['state']},mem={snapshot['mem']}",
                      "--kernel", GUEST)
    assert result.returncode == 2
    assert_refused(result, "--kernel cannot go with --restore")


def test_missing_disk_image_refused(kvm, tmp_path):
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * (1 << 20))
    vm, sock = boot(tmp_path, "disk", "--disk", str(disk))
    try:
        vm.wait_line(r"^tick=1 ", 60)
        pause(sock)
        assert create(sock, tmp_path / "s", tmp_path / "m") == (204, None)
    finally:
        vm.kill()
    disk.unlink()
    assert_refused(run_kiln("run", "--restore", f"{tmp_path / 's'},mem={tmp_path / 'm'}"),
                   str(disk))
