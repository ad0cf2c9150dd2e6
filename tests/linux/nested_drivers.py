# SPDX-License-Identifier: MIT
"""The Linux end-to-end drivers that run inside one nested AMD-V host
(scripts/nested-host.sh), one after another, each under its own time limit,
so that one boot of the nested host serves every test module in tests/linux
(tests/linux/conftest.py starts it once per pytest session).

Each driver writes its results as JSON to the path it is given; this runner
keeps, per driver, in OUT/NAME/: results.json (the driver's), output.log
(everything it printed) and status.json (its exit status, or "timeout", and
its time). A driver that overruns its limit is killed with its whole process
group (kiln included) and the next one starts: a hang costs only its own
tests. A driver whose status.json already exists is not run again, so when
nested-host.sh restarts a stalled host with the same command, the drivers
that finished are kept; a driver that was running when the host stalled
runs once more, and after a second stall it is given the status "stalled"
instead of a third try (the tap driver's traffic stalled the host twice in
a row: README).

Adding a driver is one line in DRIVERS below (and, in its test module,
`pytest.mark.nested_driver("NAME")` and a fixture calling
`nested_run.results("NAME")`; see tests/linux/conftest.py).

usage: nested_drivers.py OUT NAME...   (inside the nested host)"""
import json
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = "/usr/bin/python3"

# name: (argv with "{results}" for the driver's JSON path, time limit in
# seconds, make targets it needs on the outer machine first).
DRIVERS = {
    # Four boots of up to 10 min each, one after another (about 5 min in all).
    "boots": ([PYTHON, "tests/linux/nested_boots.py", "{results}"], 1500,
              ["linux-small"]),
    "vsock": ([PYTHON, "tests/linux/nested_vsock.py", "{results}"], 960,
              ["linux-small", "linux-vsock", "build/kiln"]),
    "net_user": ([PYTHON, "tests/linux/nested_net_user.py", "{results}"], 660,
                 ["linux-small", "build/kiln"]),
    # Boot, pause, snapshot, kill, restore: about 4 min on the nested host.
    "snapshot": ([PYTHON, "tests/linux/nested_snapshot.py", "{results}"], 1200,
                 ["linux-small", "linux-snapshot", "build/kiln"]),
    # In a network namespace of its own: its tap touches no other interface.
    "net_tap": (["unshare", "--net", PYTHON, "tests/linux/nested_net_tap.py", "{results}"], 960,
                ["linux-small", "build/kiln"]),
}
# Time for the nested host to boot and for what surrounds the drivers.
OVERHEAD = 300


def time_limit(names, drivers=DRIVERS):
    """Seconds a run of these drivers may take in all, the host's boot included."""
    return OVERHEAD + sum(drivers[n][1] for n in names)


# Starts of a driver whose host stalled under it before it is given up.
MAX_STARTS = 2


def write_status(path, status):
    with open(path + ".new", "w") as f:
        json.dump(status, f)
    os.rename(path + ".new", path)


def run_one(out, name, argv, limit):
    """Runs one driver to its end or its limit; writes status.json last."""
    os.makedirs(os.path.join(out, name), exist_ok=True)
    results = os.path.join(out, name, "results.json")
    status_path = os.path.join(out, name, "status.json")
    starts_path = os.path.join(out, name, "starts")
    starts = os.path.getsize(starts_path) if os.path.exists(starts_path) else 0
    if starts >= MAX_STARTS:
        write_status(status_path, {"status": "stalled", "limit": limit, "starts": starts})
        print(f"nested_drivers: {name}: the host stalled under it {starts} times; not run again",
              flush=True)
        return
    with open(starts_path, "a") as f:
        f.write("x")  # one byte per start, on the project's file system
    argv = [a.replace("{results}", results) for a in argv]
    start = time.monotonic()
    # Appended to: the output of a start the host stalled under is kept.
    with open(os.path.join(out, name, "output.log"), "ab") as log:
        # A session of its own, so that a timeout takes kiln and every other
        # child with it.
        proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            status = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            status = "timeout"
            log.write(f"\nnested_drivers: {name} killed after its limit of {limit} s\n".encode())
    write_status(status_path, {"status": status, "limit": limit, "argv": argv,
                               "seconds": round(time.monotonic() - start, 1)})
    print(f"nested_drivers: {name}: {status} after {time.monotonic() - start:.0f} s", flush=True)


def run_drivers(out, names, drivers=DRIVERS):
    for name in names:
        if os.path.exists(os.path.join(out, name, "status.json")):
            continue  # done in an earlier attempt of this run
        argv, limit, _ = drivers[name]
        run_one(out, name, argv, limit)


def main():
    if len(sys.argv) < 3 or any(n not in DRIVERS for n in sys.argv[2:]):
        sys.exit(f"usage: nested_drivers.py OUT NAME... (names: {', '.join(DRIVERS)})")
    run_drivers(sys.argv[1], sys.argv[2:])


if __name__ == "__main__":
    main()
