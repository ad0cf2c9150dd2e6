# SPDX-License-Identifier: MIT
"""A kiln whose test guest holds (prints "INFO: holding" and waits), for the
tests that look at a running kiln's threads in /proc."""
import contextlib
import os
import signal
import subprocess


@contextlib.contextmanager
def holding_kiln(argv):
    """Start argv, wait for the guest to hold, yield (process, output so far);
    afterwards SIGTERM it and check it exited of that signal."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        out = ""
        while "INFO: holding" not in out:
            line = proc.stdout.readline()
            assert line, out + proc.stderr.read()
            out += line
        yield proc, out
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr.read()


def threads(pid, name):
    """{thread name: text of /proc/PID/task/TID/<name>} for each thread."""
    found = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as comm, \
                open(f"/proc/{pid}/task/{tid}/{name}") as f:
            found[comm.read().strip()] = f.read()
    return found
