# SPDX-License-Identifier: MIT
"""Talk to kiln's API socket the way Firecracker's clients do: HTTP/1.1 over
AF_UNIX with http.client, and start and stop kiln around it."""
import http.client
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, sock_path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.sock_path = sock_path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.sock_path)
        self.sock = sock


def request(sock_path, method, path, body=None, timeout=10):
    """One request on a new connection: (status, parsed JSON or None)."""
    conn = UnixHTTPConnection(sock_path, timeout)
    try:
        data = json.dumps(body) if isinstance(body, (dict, list)) else body
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, (json.loads(raw) if raw else None)
    finally:
        conn.close()


def short_dir():
    """AF_UNIX paths must stay under 108 bytes: pytest's tmp_path may not."""
    return pathlib.Path(tempfile.mkdtemp(prefix="kiln-api-", dir="/tmp"))


class Kiln:
    """kiln run --api-sock SOCK [args...], stderr kept in a file."""

    def __init__(self, binary, *args, env=None):
        self.dir = short_dir()
        self.sock = str(self.dir / "api.sock")
        self.stderr_path = self.dir / "stderr"
        full_env = dict(os.environ)
        full_env.pop("KILN_KVM_DEVICE", None)
        full_env.update(env or {})
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([binary, "run", "--api-sock", self.sock, *args],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=err, env=full_env)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            assert self.proc.poll() is None, f"kiln exited: {self.stderr()}"
            assert time.monotonic() < deadline, "kiln did not create its API socket"
            time.sleep(0.02)

    def request(self, method, path, body=None, timeout=10):
        return request(self.sock, method, path, body, timeout)

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def stop(self):
        """SIGTERM: kiln ends with 128 + 15 and removes its socket."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(timeout=20)
        return status

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def remove_dir(self):
        """The socket's directory, once kiln is gone (it lives outside pytest's tmp)."""
        shutil.rmtree(self.dir, ignore_errors=True)
