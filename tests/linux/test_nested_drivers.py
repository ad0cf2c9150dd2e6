# SPDX-License-Identifier: MIT
"""The runner behind the shared nested host (nested_drivers.py, conftest.py),
run here with stand-in drivers: a driver that hangs is killed at its limit
with the programs it started, its tests fail with its output and say it hung,
and the drivers after it still run and give their results; a driver already
finished in an earlier attempt is not run again. No KVM or nested host."""
import json
import os
import sys

import pytest

import nested_drivers
from nested_run import NestedRun

# A driver that says it started, leaves a child that records its pid, and hangs.
HANG = ("import os, subprocess, sys, time; print('hang: started', flush=True); "
        "c = subprocess.Popen(['sleep', '600']); "
        "open(sys.argv[1] + '.child', 'w').write(str(c.pid)); time.sleep(600)")
WRITE = "import json, sys; print('ok: wrote'); json.dump({'answer': 42}, open(sys.argv[1], 'w'))"
FAIL = "import sys; print('bad: gave up'); sys.exit(3)"


def stand_ins(tmp_path):
    marker = tmp_path / "ran-twice"
    again = (f"import json, os, sys; m = {str(marker)!r}; "
             "os.path.exists(m + '.1') and open(m, 'w').close(); open(m + '.1', 'w').close(); "
             "json.dump({}, open(sys.argv[1], 'w'))")
    return {"hangs": ([sys.executable, "-c", HANG, "{results}"], 3, []),
            "writes": ([sys.executable, "-c", WRITE, "{results}"], 60, []),
            "fails": ([sys.executable, "-c", FAIL, "{results}"], 60, []),
            "once": ([sys.executable, "-c", again, "{results}"], 60, [])}, marker


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (not yet reaped by its reaper) is gone as far as work goes.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def test_a_hung_driver_fails_alone_with_its_output(tmp_path):
    drivers, _ = stand_ins(tmp_path)
    names = ["hangs", "writes", "fails"]
    nested_drivers.run_drivers(str(tmp_path), names, drivers)
    run = NestedRun(tmp_path, names, "host output")

    with pytest.raises(pytest.fail.Exception) as hung:
        run.results("hangs")
    assert "driver hangs hung: killed after its limit of 3 s" in str(hung.value)
    assert "hang: started" in str(hung.value)
    child = int((tmp_path / "hangs" / "results.json.child").read_text())
    assert not alive(child), "the hung driver's child outlived it"

    assert run.results("writes") == {"answer": 42}

    with pytest.raises(pytest.fail.Exception) as failed:
        run.results("fails")
    assert "driver fails exited with status 3 without results" in str(failed.value)
    assert "bad: gave up" in str(failed.value)


def test_a_driver_the_host_never_reached_says_so(tmp_path):
    run = NestedRun(tmp_path, ["writes"], "nested-host: the nested host stalled")
    with pytest.raises(pytest.fail.Exception) as missing:
        run.results("writes")
    assert "driver writes did not finish" in str(missing.value)
    assert "nested-host: the nested host stalled" in str(missing.value)


def test_a_rerun_keeps_what_finished(tmp_path):
    """nested-host.sh reruns the same command after a stall: finished
    drivers are not run a second time."""
    drivers, marker = stand_ins(tmp_path)
    nested_drivers.run_drivers(str(tmp_path), ["once"], drivers)
    nested_drivers.run_drivers(str(tmp_path), ["once"], drivers)
    assert not marker.exists(), "the finished driver ran again"
    assert json.loads((tmp_path / "once" / "status.json").read_text())["status"] == 0


def test_every_driver_has_a_script_and_a_limit():
    for name, (argv, limit, targets) in nested_drivers.DRIVERS.items():
        scripts = [a for a in argv if a.endswith(".py")]
        assert scripts and all(os.path.isfile(os.path.join(nested_drivers.ROOT, s))
                               for s in scripts), name
        assert "{results}" in argv and limit > 0 and "linux-small" in targets, name
    assert nested_drivers.time_limit(list(nested_drivers.DRIVERS)) > \
        sum(d[1] for d in nested_drivers.DRIVERS.values())


def test_a_driver_the_host_stalled_under_twice_is_given_up(tmp_path):
    """Two starts that never finished (the host stalled under them): the
    third attempt does not run it, and its tests say why, with its output."""
    drivers, _ = stand_ins(tmp_path)
    (tmp_path / "writes").mkdir()
    (tmp_path / "writes" / "starts").write_text("xx")
    (tmp_path / "writes" / "output.log").write_text("ok: started before the stall\n")
    nested_drivers.run_drivers(str(tmp_path), ["writes"], drivers)
    assert not (tmp_path / "writes" / "results.json").exists(), "run a third time"
    with pytest.raises(pytest.fail.Exception) as stalled:
        NestedRun(tmp_path, ["writes"], "").results("writes")
    assert "driver writes stalled the nested host's own kernel 2 times" in str(stalled.value)
    assert "ok: started before the stall" in str(stalled.value)
