# SPDX-License-Identifier: MIT
"""Snapshot and restore of a Linux guest, end to end, on the nested AMD-V
host (tests/linux/nested_snapshot.py): the small kernel with the snapshot
initramfs (make linux-snapshot: tests/linux/snapshot_init.sh) counts, writes
to its disk, pings the user-mode network's gateway and connects to the host
over vsock each tick; kiln is paused, snapshotted and killed, and a new kiln
restores it: the count goes on from where it was, the disk data written
before the snapshot reads back the same from the device, the network
answers, and vsock connects again after the reset."""
import re

import pytest

pytestmark = [pytest.mark.linux, pytest.mark.nested_driver("snapshot")]

TICK = re.compile(r"^kiln-snap: tick (\d+) data ([0-9a-f]{32}) net (\w+) vsock (\w+)$")


@pytest.fixture(scope="module")
def run(nested_run):
    result = nested_run.results("snapshot")
    assert result["booted"], "\n".join(result["before"][-60:]) + result["before_stderr"]
    assert result["pause"][0] == 204 and result["create"][0] == 204, result
    return result


def parsed(lines):
    return [m.groups() for m in map(TICK.match, lines) if m]


def after_restore(run):
    """The restored guest's tick lines: there must be some."""
    after = parsed(run["after"])
    assert after, ("the restored guest printed no tick:\n" + "\n".join(run["after"][-40:]) +
                   run["after_stderr"])
    return after


def data_written(run):
    found = [line.split()[-1] for line in run["before"] if line.startswith("kiln-snap: data ")]
    assert len(found) == 1, run["before"][-40:]
    return found[0]


def test_the_count_goes_on_from_where_it_was(run):
    before, after = parsed(run["before"]), after_restore(run)
    last = int(before[-1][0])
    numbers = [int(t[0]) for t in after]
    # The first whole line after the restore is the next tick, or the one
    # after it when the snapshot caught a tick line half printed.
    assert last + 1 <= numbers[0] <= last + 2, (last, numbers)
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), numbers


def test_the_disk_data_is_still_there(run):
    want = data_written(run)
    assert all(t[1] == want for t in parsed(run["before"]))
    after = after_restore(run)
    assert [t[1] for t in after] == [want] * len(after)


def test_the_network_answers_again(run):
    assert after_restore(run)[-1][2] == "up", run["after"][-10:]


def test_vsock_reconnects_after_the_reset(run):
    assert after_restore(run)[-1][3] == "up", run["after"][-10:]
    assert run["vsock_after"] >= 1
