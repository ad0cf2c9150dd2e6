# SPDX-License-Identifier: MIT
"""Runs inside the nested AMD-V host (scripts/nested-host.sh): boots the
small kernel under kiln with `--net user` and drives the guest's shell
(kiln.shell) through COM1: DHCP, a checksummed fetch from a web server on
this host's 127.0.0.1 through 10.0.2.2, and a server in the guest reached
through a forwarded host port. Writes what happened as JSON to the path
given, for tests/linux/test_net_user_e2e.py to judge.

usage: nested_net_user.py RESULTS.json"""
import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KILN = os.path.join(ROOT, "build", "kiln")
KERNEL = os.path.join(ROOT, "build", "linux-small", "bzImage")
INITRD = os.path.join(ROOT, "build", "linux-guest", "initramfs.cpio.gz")
GUEST_PORT = 8080
BOOT_TIMEOUT = 600

# Typed into the guest's shell (the initramfs has no /tmp: made first). Markers are built from $M so that the
# console's echo of a command never looks like its result.
GUEST_SCRIPT = """M=kiln-net
mkdir -p /tmp
printf '#!/bin/sh\\n[ "$1" = bound ] || exit 0\\nip addr add $ip/$mask dev $interface\\nip route add default via $router\\n' > /tmp/dhcp.sh
chmod +x /tmp/dhcp.sh
ip link set eth0 up
udhcpc -i eth0 -f -q -n -t 10 -s /tmp/dhcp.sh >/dev/null 2>&1; echo "$M: dhcp $?"
echo "$M: addr $(ip -4 addr show eth0 | grep -o 'inet [0-9./]*' | cut -d' ' -f2)"
echo "$M: fetched $(wget -q -O - http://10.0.2.2:{http_port}/blob | sha256sum | cut -d' ' -f1)"
head -c 200000 /dev/urandom > /tmp/reply
echo "$M: reply $(sha256sum < /tmp/reply | cut -d' ' -f1)"
nc -l -p {guest_port} < /tmp/reply &
n=0; while [ $n -lt 600 ] && ! cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -q ':{guest_hex} 0*:0000 0A'; do sleep 0.1; n=$((n+1)); done
echo "$M: listening"
wait
echo "$M: served"
poweroff -f
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_blob(directory):
    """A web server on 127.0.0.1 in a thread: (server, port)."""
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def fetch_forwarded(port):
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return hashlib.sha256(data).hexdigest()


def boot(work):
    blob = os.urandom(500000)
    with open(os.path.join(work, "blob"), "wb") as f:
        f.write(blob)
    server, http_port = serve_blob(work)
    host_port = free_port()
    argv = [KILN, "run", "--kernel", KERNEL, "--initrd", INITRD, "--memory", "256",
            "--cmdline", "console=ttyS0 kiln.shell",
            "--net", f"user,hostfwd=tcp::{host_port}-:{GUEST_PORT}"]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1)
    timer = threading.Timer(BOOT_TIMEOUT, proc.kill)
    timer.start()
    output, forwarded = [], ""
    try:
        for line in proc.stdout:
            output.append(line)
            if "kiln.shell given" in line:
                proc.stdin.write(GUEST_SCRIPT.format(http_port=http_port, guest_port=GUEST_PORT,
                                                     guest_hex=f"{GUEST_PORT:04X}"))
                proc.stdin.flush()
            if line.startswith("kiln-net: listening"):
                forwarded = fetch_forwarded(host_port)
        proc.wait()
    finally:
        timer.cancel()
        server.shutdown()
    return {"status": proc.returncode, "output": "".join(output), "stderr": proc.stderr.read(),
            "blob": hashlib.sha256(blob).hexdigest(), "forwarded": forwarded}


def main():
    # The nested host may come up with its loopback down.
    subprocess.run(["ip", "link", "set", "lo", "up"], check=False)
    with tempfile.TemporaryDirectory() as work:
        result = boot(work)
    with open(sys.argv[1], "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
