# SPDX-License-Identifier: MIT
"""kiln run --jail DIR --uid N --gid N: the guest runs as usual while kiln is
confined (its own mount, PID, IPC and UTS namespaces, DIR as its root, no
capabilities, no_new_privs, nothing inherited left open); paths that reach
kiln after the jail (the API's drive swap) resolve inside DIR only; and the
errors a user can make. kiln must be started as root here, as the jail needs."""
import json
import os
import pathlib
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

import pytest

import tinyguest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "api"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "guest"))
import apiclient  # noqa: E402
import vmm  # noqa: E402

TIMEOUT = 60
NOBODY = 65534


@pytest.fixture(autouse=True)
def root():
    assert os.geteuid() == 0, "the jail tests start kiln as root (the jail needs it)"


def make_jail(tmp_path):
    """An empty DIR the unprivileged user can enter."""
    jail = tmp_path / "jail"
    jail.mkdir()
    jail.chmod(0o755)
    return jail


def jail_args(jail, uid=NOBODY, gid=NOBODY):
    return ["--jail", str(jail), "--uid", str(uid), "--gid", str(gid)]


def jailed_child(parent):
    """The jailed kiln: the only child of the kiln that was started."""
    children = pathlib.Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def status_fields(pid):
    fields = {}
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    return fields


def fd_targets(pid):
    fds = pathlib.Path(f"/proc/{pid}/fd")
    return {int(fd.name): os.readlink(fd) for fd in fds.iterdir()}


def open_files(pid):
    """(device, inode) of every regular file pid has open: readlink shows a
    jailed process's paths as seen from inside its jail."""
    files = set()
    for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir():
        try:
            st = os.stat(fd)
        except FileNotFoundError:
            continue  # closed since the listing
        if stat.S_ISREG(st.st_mode):
            files.add((st.st_dev, st.st_ino))
    return files


def identity(path):
    st = os.stat(path)
    return st.st_dev, st.st_ino


def test_guest_runs_jailed_and_exits_with_its_status(kvm, tmp_path):
    """A test guest that writes, flushes and reads back a virtio disk runs in
    the jail as nobody and ends with its debug-exit status; the image holds
    what it wrote (the disk was opened before the jail, as root)."""
    image = tmp_path / "disk.img"
    image.write_bytes(b"\0" * (16 << 20))
    argv = vmm.command("kiln", "virtio_blk", cmdline=f"sectors={(16 << 20) // 512}",
                       extra=["--disk", f"{image},serial=kilnguest"] +
                       jail_args(make_jail(tmp_path)))
    proc = subprocess.run(argv, capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    vmm.assert_passed(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    assert proc.stderr == b""
    assert image.read_bytes()[:64 * 512] == bytes((i * 7 + 3) & 0xFF for i in range(64 * 512))


def thread_filters(pid):
    """Each thread's name and its seccomp mode (2: a filter)."""
    threads = {}
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        fields = dict(l.split(":\t", 1) for l in (task / "status").read_text().splitlines()
                      if ":\t" in l)
        threads[fields["Name"].strip()] = fields["Seccomp"].strip()
    return threads


def test_jailed_kiln_is_confined(kiln, kvm, tmp_path):
    """/proc shows the jailed kiln as nobody with no capabilities and
    no_new_privs, in namespaces of its own with DIR as its root, and holding
    only the files the machine needs: not the fd the caller left open."""
    jail = make_jail(tmp_path)
    (jail / "marker").write_text("inside")
    image = tinyguest.write(tmp_path / "g.elf", "up\n", "hang")
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * (1 << 20))
    secret = tmp_path / "secret"
    secret.write_text("the caller's")
    inherited = os.open(secret, os.O_RDONLY)  # not close-on-exec: kiln inherits it
    try:
        proc = subprocess.Popen([kiln, "run", "--kernel", image, "--disk", str(disk), "--rng",
                                 *jail_args(jail)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, pass_fds=(inherited,))
    finally:
        os.close(inherited)
    assert proc.stdout.read(3) == b"up\n"  # the guest runs: the jail is entered
    child = jailed_child(proc.pid)
    status = status_fields(child)
    assert status["Uid"] == [str(NOBODY)] * 4 and status["Gid"] == [str(NOBODY)] * 4
    assert status["Groups"] == []
    for caps in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"):
        assert int(status[caps][0], 16) == 0, (caps, status[caps])
    assert status["NoNewPrivs"] == ["1"]
    assert status["NSpid"][-1] == "1", "PID 1 of its own PID namespace"
    for ns in ("mnt", "pid", "ipc", "uts", "net"):
        assert os.readlink(f"/proc/{child}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
    assert sorted(os.listdir(f"/proc/{child}/root")) == ["marker"]
    # Only what the machine uses: stdio, KVM, the disk, eventfds and the like.
    for fd, target in fd_targets(child).items():
        assert (target in ("/dev/null", "/dev/kvm", str(disk)) or
                target.startswith(("anon_inode:", "pipe:"))), (fd, target)
    assert sorted(fd_targets(proc.pid)) == [0, 1, 2], "the parent keeps nothing either"
    # Every thread under its own seccomp filter, and named (each names itself);
    # the main thread installs its filter as the guest starts, so wait for it.
    deadline = time.monotonic() + TIMEOUT
    while True:
        threads = thread_filters(child)
        if all(mode == "2" for mode in threads.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert all(mode == "2" for mode in threads.values()), threads
    assert {"vcpu0", "rtc", "vq-blk0-0", "vq-rng0-0"} <= set(threads), threads
    limits = pathlib.Path(f"/proc/{child}/limits").read_text()
    assert any(l.startswith("Max open files") and l.split()[3:5] == ["4096", "4096"]
               for l in limits.splitlines()), limits
    # The parent passes SIGINT on; the VM stops cleanly with 128 + 2.
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 128 + signal.SIGINT, err
    assert err == b""


def test_child_killed_by_a_signal_shows_in_the_status(kiln, kvm, tmp_path):
    image = tinyguest.write(tmp_path / "g.elf", "up\n", "hang")
    proc = subprocess.Popen([kiln, "run", "--kernel", image, *jail_args(make_jail(tmp_path))],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout.read(3) == b"up\n"
    os.kill(jailed_child(proc.pid), signal.SIGKILL)
    proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 128 + signal.SIGKILL


def wait_for_socket(path, proc):
    deadline = time.monotonic() + TIMEOUT
    while not os.path.exists(path):
        assert proc.poll() is None, f"kiln exited ({proc.returncode}) before listening"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.02)


def test_api_paths_resolve_inside_the_jail(kiln, kvm, tmp_path):
    """With the API, the machine is described with paths inside DIR. Once it
    runs, PATCH /drives naming a host file outside DIR is refused (kiln cannot
    see it) and the old disk kept; a file inside DIR is taken."""
    jail = make_jail(tmp_path)
    tinyguest.write(jail / "g.elf", "up\n", "hang")
    for name in ("disk0.img", "disk1.img"):
        (jail / name).write_bytes(b"\0" * (1 << 20))
        os.chown(jail / name, NOBODY, NOBODY)
    outside = tmp_path / "outside.img"
    outside.write_bytes(b"\0" * (1 << 20))
    outside.chmod(0o666)
    sock_dir = pathlib.Path(tempfile.mkdtemp(prefix="kiln-jail-", dir="/tmp"))
    sock = sock_dir / "api.sock"
    proc = subprocess.Popen([kiln, "run", "--api-sock", str(sock), *jail_args(jail)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        wait_for_socket(sock, proc)
        send = lambda *a: apiclient.request(str(sock), *a)  # noqa: E731
        assert send("PUT", "/boot-source", {"kernel_image_path": "/g.elf"})[0] == 204
        assert send("PUT", "/drives/disk0", {"drive_id": "disk0", "path_on_host": "/disk0.img",
                                             "is_root_device": False,
                                             "is_read_only": False})[0] == 204
        code, body = send("PUT", "/actions", {"action_type": "InstanceStart"})
        assert code == 204, body
        assert proc.stdout.read(3) == b"up\n"
        child = jailed_child(proc.pid)
        assert identity(jail / "disk0.img") in open_files(child)

        code, body = send("PATCH", "/drives/disk0",
                          {"drive_id": "disk0", "path_on_host": str(outside)})
        assert code == 400, body
        assert body["fault_message"] == f"disk '{outside}': no such file", body
        assert identity(outside) not in open_files(child)
        assert identity(jail / "disk0.img") in open_files(child), "the old disk stays"

        code, body = send("PATCH", "/drives/disk0",
                          {"drive_id": "disk0", "path_on_host": "/disk1.img"})
        assert code == 204, body
        files = open_files(child)
        assert identity(jail / "disk1.img") in files and identity(jail / "disk0.img") not in files
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert not sock.exists(), "the parent removes the API socket"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(sock_dir)


def test_config_file_paths_resolve_inside_the_jail(kiln, kvm, tmp_path):
    """A --config-file's kernel path is looked up in DIR: /g.elf is DIR's;
    the same image named by its host path outside DIR is not found."""
    jail = make_jail(tmp_path)
    inside = tinyguest.write(jail / "g.elf", "up\n", "hang")
    config = tmp_path / "vm.json"
    config.write_text(json.dumps({"boot-source": {"kernel_image_path": "/g.elf"}}))
    proc = subprocess.Popen([kiln, "run", "--config-file", str(config), *jail_args(jail)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout.read(3) == b"up\n"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 128 + signal.SIGTERM, err

    config.write_text(json.dumps({"boot-source": {"kernel_image_path": str(inside)}}))
    proc = run_kiln(kiln, "--config-file", str(config), *jail_args(jail))
    assert proc.returncode == 1
    assert str(inside) in one_error_line(proc)


def run_kiln(kiln, *args, **kwargs):
    return subprocess.run([kiln, "run", *args], capture_output=True, timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL, **kwargs)


def one_error_line(proc):
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kiln: error: "), lines
    return lines[0]


def test_missing_jail_dir_is_an_error(kiln, tmp_path):
    missing = tmp_path / "none"
    proc = run_kiln(kiln, "--kernel", "k", *jail_args(missing))
    assert proc.returncode == 1
    assert one_error_line(proc) == f"kiln: error: --jail {missing}: No such file or directory"


def test_jail_dir_that_is_a_file_is_an_error(kiln, tmp_path):
    file = tmp_path / "file"
    file.write_text("")
    proc = run_kiln(kiln, "--kernel", "k", *jail_args(file))
    assert proc.returncode == 1
    assert one_error_line(proc) == f"kiln: error: --jail {file} is not a directory"


def test_jail_without_uid_is_a_usage_error(kiln, tmp_path):
    proc = run_kiln(kiln, "--kernel", "k", "--jail", str(make_jail(tmp_path)), "--gid", "1")
    assert proc.returncode == 2
    assert "--jail needs --uid N and --gid N" in one_error_line(proc)


def test_jail_as_non_root_is_an_error(kiln, tmp_path):
    # A copy nobody can reach, wherever the tree is checked out.
    public = pathlib.Path(tempfile.mkdtemp(prefix="kiln-jail-", dir="/tmp"))
    try:
        public.chmod(0o755)
        shutil.copy(kiln, public / "kiln")
        proc = run_kiln(str(public / "kiln"), "--kernel", "k", *jail_args(make_jail(tmp_path)),
                        user=NOBODY, group=NOBODY, extra_groups=[])
    finally:
        shutil.rmtree(public)
    assert proc.returncode == 1
    assert one_error_line(proc) == ("kiln: error: --jail needs root (it creates namespaces "
                                    f"and changes user); kiln runs as uid {NOBODY}")
