# SPDX-License-Identifier: MIT
"""A kiln process whose console lines are watched as they arrive (with the host
time each came), for the tests and benchmarks that boot a guest through the
API; requests go through apiclient."""
import os
import re
import subprocess
import threading
import time

import apiclient
from paths import KILN


def request(sock_path, method, path, body=None, timeout=30):
    """One request (apiclient's, with a timeout for a loaded nested host)."""
    return apiclient.request(str(sock_path), method, path, body, timeout)


class Kiln:
    """A kiln process whose standard output is read line by line."""

    def __init__(self, argv, env=None):
        self.lines = []           # (host monotonic time, text)
        self.cond = threading.Condition()
        self.proc = subprocess.Popen([str(KILN)] + list(argv), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env)
        self.stderr = b""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.err_reader = threading.Thread(target=self._read_err, daemon=True)
        self.err_reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip("\r\n")))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def _read_err(self):
        self.stderr = self.proc.stderr.read()

    def output(self):
        with self.cond:
            return "\n".join(text for _, text in self.lines)

    def wait_line(self, pattern, timeout, start=0):
        """The first line from index start matching pattern: (index, time, match)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.lines):
                    m = regex.search(self.lines[i][1])
                    if m:
                        return i, self.lines[i][0], m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and i >= len(self.lines)):
                    raise AssertionError(
                        f"no line matching {pattern!r} within {timeout} s "
                        f"(kiln status {self.proc.poll()}):\n{self.output()[-4000:]}\n"
                        f"{self.stderr.decode(errors='replace')[-2000:]}")
                self.cond.wait(min(left, 1.0))

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"kiln did not exit within {timeout} s:\n{self.output()[-3000:]}")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def wait_for_socket(path, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return
        assert proc.poll() is None, f"kiln exited ({proc.returncode}) before listening"
        time.sleep(0.02)
    raise AssertionError(f"{path} did not appear within {timeout} s")
