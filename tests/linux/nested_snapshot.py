# SPDX-License-Identifier: MIT
"""Runs inside the nested AMD-V host (scripts/nested-host.sh): boots the
small kernel under kiln with a disk, --net user and --vsock and the
snapshot initramfs (make linux-snapshot), lets it count, pauses it, takes a
Full snapshot, kills kiln, restores the snapshot in a new kiln (--restore)
and watches the count go on. Writes both consoles and what the host's vsock
listener saw as JSON for tests/linux/test_linux_snapshot.py to judge.

usage: nested_snapshot.py RESULTS.json"""
import json
import os
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KILN = os.path.join(ROOT, "build", "kiln")
KERNEL = os.path.join(ROOT, "build", "linux-small", "bzImage")
INITRD = os.path.join(ROOT, "build", "linux-snapshot", "initramfs.cpio.gz")
SCRATCH = os.environ.get("NESTED_SCRATCH", "/var/tmp")
BOOT_TIMEOUT = 600
TICKS_BEFORE = 3        # ticks with every check up before the snapshot
TICKS_AFTER = 4         # ticks the restored guest must print


class Console:
    """kiln's standard output, line by line, in a thread."""

    def __init__(self, proc):
        self.proc, self.lines, self.cond = proc, [], threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None):
                    return False
                self.cond.wait(min(left, 1.0))
            return True


def ticks(lines):
    return [line for line in lines if line.startswith("kiln-snap: tick ")]


def vsock_listener(path, counter):
    """Accept the guest's connections on PATH_6000; count those that send."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(16)
    while True:
        conn, _ = server.accept()
        with conn:
            got = 0
            while chunk := conn.recv(65536):
                got += len(chunk)
            if got:
                counter.append(time.monotonic())


def api(sock, method, path, body):
    data = json.dumps(body).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(120)
        s.connect(sock)
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                  f"application/json\r\nContent-Length: {len(data)}\r\nConnection: close"
                  "\r\n\r\n".encode() + data)
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
    return int(reply.split()[1]), reply.split(b"\r\n\r\n", 1)[-1].decode(errors="replace")


def start(argv):
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return proc, Console(proc)


def main(out_path):
    work = os.path.join(SCRATCH, "snapshot-e2e")
    subprocess.run(["rm", "-rf", work], check=True)
    os.makedirs(work)
    disk, vsock_path, sock = (os.path.join(work, n) for n in ("disk.img", "v.sock", "a.sock"))
    state, mem = os.path.join(work, "state"), os.path.join(work, "mem")
    with open(disk, "wb") as f:
        f.truncate(32 << 20)
    accepted = []
    threading.Thread(target=vsock_listener, args=(vsock_path + "_6000", accepted),
                     daemon=True).start()
    result = {}
    proc, console = start([KILN, "run", "--kernel", KERNEL, "--initrd", INITRD, "--memory",
                           "256", "--cmdline", "console=ttyS0", "--disk", disk, "--net", "user",
                           "--vsock", f"cid=3,socket={vsock_path}", "--api-sock", sock])
    try:
        up = console.wait(lambda ls: sum(" net up vsock up" in t for t in ticks(ls))
                          >= TICKS_BEFORE, BOOT_TIMEOUT)
        result["booted"] = up
        if up:
            result["pause"] = api(sock, "PATCH", "/vm", {"state": "Paused"})
            result["create"] = api(sock, "PUT", "/snapshot/create",
                                   {"snapshot_path": state, "mem_file_path": mem})
            time.sleep(1)   # nothing may print while paused
    finally:
        proc.kill()
        proc.wait()
    result["before"] = console.lines
    result["before_stderr"] = proc.stderr.read()
    result["vsock_before"] = len(accepted)
    if result.get("create", (0,))[0] != 204:
        return write(out_path, result)
    restored, console = start([KILN, "run", "--restore", f"{state},mem={mem}"])
    try:
        result["resumed"] = console.wait(lambda ls: len(ticks(ls)) >= TICKS_AFTER, 300)
    finally:
        restored.kill()
        restored.wait()
    result["after"] = console.lines
    result["after_stderr"] = restored.stderr.read()
    result["vsock_after"] = len(accepted) - result["vsock_before"]
    return write(out_path, result)


def write(out_path, result):
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
