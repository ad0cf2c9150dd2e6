# SPDX-License-Identifier: MIT
"""--net user without a guest: build/harness/net-user-bridge opens the
backend (libslirp) under its seccomp filter and bridges its frames to a tap
in a network namespace the test makes, whose kernel plays the guest. The
backend itself runs in a second, private namespace standing for the host:
its loopback has the web server and the resolver (dnsmasq, named in that
namespace's /etc/resolv.conf), so nothing here reaches the real host's
network. Needs root (namespaces, taps), as `make check` runs."""
import hashlib
import os
import signal
import socket
import subprocess

import pytest

from paths import BUILD

BRIDGES = ["net-user-bridge", "net-user-bridge-asan"]
HTTP_PORT = 8123         # on the host namespace's 127.0.0.1
FORWARDED_PORT = 8124    # host port forwarded to the guest's 8080
GUEST_PORT = 8080
TEST_NAME, TEST_ADDR = "kiln.test", "192.0.2.7"
TIMEOUT = 30


def bridge_path(name):
    path = BUILD / "harness" / name
    assert path.is_file(), f"{path} is missing: run `make harness`"
    return str(path)


def in_ns(ns, *argv, **kwargs):
    kwargs.setdefault("timeout", TIMEOUT)
    kwargs.setdefault("text", True)
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, **kwargs)


def listening(ns, port):
    """Whether a TCP socket listens on port inside ns (the kernel's table)."""
    out = in_ns(ns, "cat", "/proc/net/tcp", "/proc/net/tcp6").stdout
    return any(f":{port:04X} " in line and line.split()[3] == "0A"
               for line in out.splitlines()[1:] if len(line.split()) > 3)


def wait_listening(ns, port, proc):
    for _ in range(3000):
        if listening(ns, port):
            return
        assert proc.poll() is None, f"server in {ns} exited: {proc.communicate()}"
    raise AssertionError(f"nothing listens on port {port} in {ns}")


class Net:
    """The two namespaces, the host side's servers and the running bridge."""

    def __init__(self, tmp, bridge):
        tag = f"{os.getpid()}-{bridge.endswith('asan')}"
        self.host, self.guest = f"kiln-nu-h{tag}", f"kiln-nu-g{tag}"
        self.tmp, self.bridge_binary = tmp, bridge
        self.procs, self.bridge, self.lease = [], None, {}
        self.blob = os.urandom(300000)
        self.bridge_stderr = ""

    def ns_setup(self):
        assert os.geteuid() == 0, "these tests make network namespaces and taps: run as root"
        for ns in (self.host, self.guest):
            subprocess.run(["ip", "netns", "add", ns], check=True)
            in_ns(ns, "ip", "link", "set", "lo", "up", check=True)
        # ip netns exec mounts /etc/netns/NAME/* over /etc/*: the host side's resolver.
        os.makedirs(f"/etc/netns/{self.host}", exist_ok=True)
        with open(f"/etc/netns/{self.host}/resolv.conf", "w") as f:
            f.write("nameserver 127.0.0.1\n")

    def start_servers(self):
        web = self.tmp / "web"
        web.mkdir()
        (web / "blob").write_bytes(self.blob)
        http = self.spawn(self.host, "python3", "-m", "http.server", "--bind", "127.0.0.1",
                          str(HTTP_PORT), "--directory", str(web))
        dns = self.spawn(self.host, "dnsmasq", "--no-daemon", "-C", "/dev/null", "--no-resolv",
                         "--no-hosts", "--pid-file", "--listen-address=127.0.0.1",
                         "--bind-interfaces", f"--address=/{TEST_NAME}/{TEST_ADDR}")
        wait_listening(self.host, HTTP_PORT, http)
        wait_listening(self.host, 53, dns)

    def spawn(self, ns, *argv, **kwargs):
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, **kwargs)
        self.procs.append(proc)
        return proc

    def start_bridge(self):
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1")
        self.bridge = subprocess.Popen(
            ["ip", "netns", "exec", self.host, self.bridge_binary, "--tap", "kt0",
             "--tap-netns", f"/run/netns/{self.guest}",
             "--fwd", f"tcp:{FORWARDED_PORT}:{GUEST_PORT}", "--seccomp", "kill"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            text=True, env=env)
        line = self.bridge.stdout.readline()
        assert line == "ready\n", line + self.bridge.stderr.read()

    def dhcp(self):
        lease = self.tmp / "lease"
        script = self.tmp / "udhcpc.sh"
        script.write_text("#!/bin/sh\n"
                          "[ \"$1\" = bound ] || exit 0\n"
                          "ip addr add \"$ip/$mask\" dev \"$interface\"\n"
                          "ip route add default via \"$router\" dev \"$interface\"\n"
                          f"echo \"ip=$ip router=$router dns=$dns\" > {lease}\n")
        script.chmod(0o755)
        in_ns(self.guest, "ip", "link", "set", "kt0", "up", check=True)
        proc = in_ns(self.guest, "busybox", "udhcpc", "-i", "kt0", "-f", "-q", "-n", "-t", "10",
                     "-s", str(script))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        self.lease = dict(kv.split("=", 1) for kv in lease.read_text().split())

    def stop_bridge(self):
        """SIGTERM: the status and stderr of a clean stop."""
        if self.bridge.poll() is None:
            self.bridge.send_signal(signal.SIGTERM)
        self.bridge_stderr = self.bridge.communicate(timeout=TIMEOUT)[1]
        return self.bridge.returncode

    def teardown(self):
        if self.bridge and self.bridge.poll() is None:
            self.bridge.kill()
            self.bridge.wait()
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
            proc.communicate(timeout=TIMEOUT)
        for ns in (self.host, self.guest):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["rm", "-rf", f"/etc/netns/{self.host}"])


@pytest.fixture(scope="module", params=BRIDGES)
def net(request, tmp_path_factory):
    n = Net(tmp_path_factory.mktemp("net-user"), bridge_path(request.param))
    try:
        n.ns_setup()
        n.start_servers()
        n.start_bridge()
        n.dhcp()
        yield n
    finally:
        n.teardown()


def test_dhcp_gives_the_guest_qemus_addresses(net):
    assert net.lease == {"ip": "10.0.2.15", "router": "10.0.2.2", "dns": "10.0.2.3"}


def test_guest_fetches_a_file_from_the_hosts_loopback(net):
    proc = subprocess.run(["ip", "netns", "exec", net.guest, "busybox", "wget", "-q", "-O", "-",
                           f"http://10.0.2.2:{HTTP_PORT}/blob"], capture_output=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert hashlib.sha256(proc.stdout).hexdigest() == hashlib.sha256(net.blob).hexdigest()


def test_dns_through_10_0_2_3_asks_the_hosts_resolver(net):
    proc = in_ns(net.guest, "busybox", "nslookup", "-type=a", TEST_NAME, "10.0.2.3")
    answers = [l.split()[-1] for l in proc.stdout.splitlines() if l.startswith("Address:")]
    assert TEST_ADDR in answers, proc.stdout + proc.stderr


def test_a_forwarded_host_port_reaches_a_server_in_the_guest(net):
    (net.tmp / "reply").write_bytes(net.blob)
    with open(net.tmp / "reply", "rb") as reply:
        server = net.spawn(net.guest, "busybox", "nc", "-l", "-p", str(GUEST_PORT), stdin=reply)
    wait_listening(net.guest, GUEST_PORT, server)
    client = in_ns(net.host, "python3", "-c",
                   "import socket, sys\n"
                   f"s = socket.create_connection(('127.0.0.1', {FORWARDED_PORT}), timeout=20)\n"
                   "data = b''\n"
                   "while chunk := s.recv(65536):\n"
                   "    data += chunk\n"
                   "sys.stdout.buffer.write(data)\n", text=False)
    assert client.returncode == 0, client.stderr
    assert hashlib.sha256(client.stdout).hexdigest() == hashlib.sha256(net.blob).hexdigest()


def test_the_forward_listens_on_the_hosts_loopback_only(net):
    out = in_ns(net.host, "cat", "/proc/net/tcp").stdout
    local = [l.split()[1] for l in out.splitlines()[1:] if l.split()[3] == "0A"]
    assert f"0100007F:{FORWARDED_PORT:04X}" in local, out
    assert f"00000000:{FORWARDED_PORT:04X}" not in local, out


HANGUP_PORT = 8125


def test_a_host_peer_that_hangs_up_does_not_kill_it(net):
    """slirp writes to host sockets without MSG_NOSIGNAL: a peer gone away
    must cost the connection (EPIPE), never kiln (SIGPIPE)."""
    server = net.spawn(net.host, "python3", "-c",
                       "import socket\n"
                       f"s = socket.create_server(('127.0.0.1', {HANGUP_PORT}))\n"
                       "for _ in range(3):\n"
                       "    c, _ = s.accept()\n"
                       "    c.recv(1)\n"
                       "    c.close()\n")
    wait_listening(net.host, HANGUP_PORT, server)
    for _ in range(3):
        in_ns(net.guest, "sh", "-c", "head -c 4000000 /dev/zero | "
              f"busybox nc 10.0.2.2 {HANGUP_PORT}")
    assert net.bridge.poll() is None, f"status {net.bridge.returncode}"
    test_guest_fetches_a_file_from_the_hosts_loopback(net)


def test_it_stops_cleanly_on_sigterm(net):
    """Last: the thread is stopped and joined, slirp cleaned up, no leak
    (the ASan build checks leaks at exit)."""
    assert net.stop_bridge() == 0, net.bridge_stderr
    assert "LeakSanitizer" not in net.bridge_stderr, net.bridge_stderr
    assert not listening(net.host, FORWARDED_PORT), "the forward's socket is closed"


def run_bridge(*args, env=None, timeout=TIMEOUT):
    return subprocess.run([bridge_path("net-user-bridge"), *args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          env=dict(os.environ, **(env or {})))


def test_a_taken_host_port_is_one_clear_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_bridge("--fwd", f"tcp:{port}:80")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == (f"kiln: error: --net user: host port {port} is taken "
                           "(Address already in use)\n")


def start_idle_bridge(*args, env=None):
    proc = subprocess.Popen([bridge_path("net-user-bridge"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            env=dict(os.environ, **(env or {})))
    return proc, proc.stdout.readline()


def test_a_call_off_its_list_kills_the_thread_with_sigsys():
    """The seccomp test hook: net-user's thread makes a netlink socket."""
    proc, line = start_idle_bridge("--seccomp", "kill",
                                   env={"KILN_SECCOMP_TEST_VIOLATE": "net-user"})
    try:
        proc.wait(timeout=TIMEOUT)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGSYS, line + proc.stderr.read()


def test_log_mode_lets_it_run_on():
    proc, line = start_idle_bridge("--seccomp", "log",
                                   env={"KILN_SECCOMP_TEST_VIOLATE": "net-user"})
    try:
        assert line == "ready\n", proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=TIMEOUT)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, proc.stderr.read()
