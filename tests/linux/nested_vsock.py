# SPDX-License-Identifier: MIT
"""Runs inside the nested AMD-V host (scripts/nested-host.sh): boots the
small kernel under kiln with --vsock and the vsock initramfs (make
linux-vsock), moves 64 MiB from a host program into a guest listener
(CONNECT 5000 on PATH) and 64 MiB from the guest to a host listener on
PATH_6000, and writes what each side counted (bytes, CRC-32) and the
console output as JSON for tests/linux/test_linux_vsock.py to judge.

usage: nested_vsock.py RESULTS.json"""
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KILN = os.path.join(ROOT, "build", "kiln")
KERNEL = os.path.join(ROOT, "build", "linux-small", "bzImage")
INITRD = os.path.join(ROOT, "build", "linux-vsock", "initramfs.cpio.gz")
SCRATCH = os.environ.get("NESTED_SCRATCH", "/var/tmp")
TOTAL = 64 << 20
CHUNK = 64 << 10
TIMEOUT = 900


def host_to_guest(path, result):
    """CONNECT 5000 until the guest listens, then 64 MiB with 64 KiB writes."""
    block = random.Random(1).randbytes(1 << 20)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            s.sendall(b"CONNECT 5000\n")
            line = b""
            while not line.endswith(b"\n"):
                c = s.recv(1)
                if not c:
                    break
                line += c
        except OSError:
            s.close()
            time.sleep(0.2)
            continue
        if not line.startswith(b"OK "):
            s.close()  # the guest is not listening yet: refused
            time.sleep(0.2)
            continue
        result["ok_line"] = line.decode()
        crc, start = 0, time.monotonic()
        for i in range(TOTAL // len(block)):
            for off in range(0, len(block), CHUNK):
                s.sendall(block[off:off + CHUNK])
            crc = zlib.crc32(block, crc)
        s.close()
        result["host_sent"] = TOTAL
        result["host_sent_crc"] = f"{crc:08x}"
        result["host_to_guest_seconds"] = round(time.monotonic() - start, 2)
        return


def guest_to_host(listener, result):
    conn, _ = listener.accept()
    crc, got, start = 0, 0, time.monotonic()
    while True:
        data = conn.recv(CHUNK)
        if not data:
            break
        crc = zlib.crc32(data, crc)
        got += len(data)
    conn.close()
    result["host_received"] = got
    result["host_received_crc"] = f"{crc:08x}"
    result["guest_to_host_seconds"] = round(time.monotonic() - start, 2)


def main():
    path = os.path.join(SCRATCH, "vsock-e2e.sock")
    for p in (path, f"{path}_6000"):
        if os.path.exists(p):
            os.unlink(p)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(f"{path}_6000")
    listener.listen(1)
    result = {}
    threads = [threading.Thread(target=host_to_guest, args=(path, result), daemon=True),
               threading.Thread(target=guest_to_host, args=(listener, result), daemon=True)]
    argv = [KILN, "run", "--kernel", KERNEL, "--initrd", INITRD, "--cpus", "2",
            "--memory", "256", "--cmdline", "console=ttyS0",
            "--vsock", f"cid=3,socket={path}"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    for t in threads:
        t.start()
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
        result["status"] = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        result["status"] = "timeout"
    for t in threads:
        t.join(10)
    result["argv"] = argv
    result["output"] = out.decode(errors="replace")
    result["socket_left"] = os.path.exists(path)
    with open(sys.argv[1], "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
