// SPDX-License-Identifier: MIT
/*
 * Host harness for --net user without a guest: opens the backend
 * (net_user_open), starts its thread under its seccomp filter, and bridges
 * its frames to a tap device, so that a network namespace's kernel plays
 * the guest (tests/harness/test_net_user.py).
 *
 *   net-user-bridge [--tap NAME --tap-netns PATH] [--fwd tcp|udp:HOSTPORT:GUESTPORT]...
 *                   [--seccomp kill|log|off]
 *
 * The tap is created inside the namespace PATH (/run/netns/...), and the
 * harness goes back to its own namespace before it opens the backend, so
 * slirp's sockets live where the harness was started. Prints "ready" once
 * the backend runs; SIGTERM or SIGINT stops it cleanly (status 0). An
 * error is one line on stderr and status 1 (2 for a bad argument).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "backends/net_backend.h"
#include "backends/net_user.h"
#include "sandbox/seccomp.h"

struct options {
	const char *tap, *tap_netns;
	struct net_user_config net;
	enum sandbox_mode seccomp;
};

static int usage(const char *why)
{
	fprintf(stderr, "net-user-bridge: %s\n", why);
	return 2;
}

static int parse_forward(const char *text, struct net_user_config *net)
{
	char proto[4];
	unsigned int host_port, guest_port;
	struct net_hostfwd *fwd;

	if (net->nr_fwd == NET_MAX_HOSTFWD ||
	    sscanf(text, "%3[a-z]:%u:%u", proto, &host_port, &guest_port) != 3 ||
	    (strcmp(proto, "tcp") && strcmp(proto, "udp")) || host_port > 65535 ||
	    guest_port > 65535)
		return -1;
	fwd = &net->fwd[net->nr_fwd++];
	fwd->udp = !strcmp(proto, "udp");
	fwd->host_port = (uint16_t)host_port;
	fwd->guest_port = (uint16_t)guest_port;
	return 0;
}

static int parse(int argc, char **argv, struct options *o)
{
	for (int i = 1; i < argc; i++) {
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;

		if (!value)
			return usage("every option takes a value");
		if (!strcmp(argv[i], "--tap"))
			o->tap = value;
		else if (!strcmp(argv[i], "--tap-netns"))
			o->tap_netns = value;
		else if (!strcmp(argv[i], "--fwd")) {
			if (parse_forward(value, &o->net))
				return usage("--fwd takes tcp|udp:HOSTPORT:GUESTPORT");
		} else if (!strcmp(argv[i], "--seccomp")) {
			if (!strcmp(value, "kill"))
				o->seccomp = SANDBOX_KILL;
			else if (!strcmp(value, "log"))
				o->seccomp = SANDBOX_LOG;
			else if (!strcmp(value, "off"))
				o->seccomp = SANDBOX_OFF;
			else
				return usage("--seccomp takes kill, log or off");
		} else
			return usage("unknown option");
		i++;
	}
	if (!o->tap != !o->tap_netns)
		return usage("--tap and --tap-netns go together");
	return 0;
}

static int enter_netns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = setns(fd, CLONE_NEWNET) ? -errno : 0;
	close(fd);
	return ret;
}

/* The tap is made inside netns_path; the harness then returns home. */
static int open_tap(const char *name, const char *netns_path)
{
	int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	int fd = -1, ret;

	if (home < 0)
		return -errno;
	ret = enter_netns(netns_path);
	if (!ret) {
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
		fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr))
			ret = -errno;
		if (setns(home, CLONE_NEWNET) && !ret)
			ret = -errno;
	}
	close(home);
	if (ret && fd >= 0)
		close(fd);
	return ret ? ret : fd;
}

/* One frame from one fd to the other (to -1: nowhere); a full side drops
 * it, as a wire would. */
static void pass_frame(int from, int to)
{
	static unsigned char frame[65536];
	ssize_t n = read(from, frame, sizeof(frame));

	if (n > 0 && to >= 0 && write(to, frame, (size_t)n) < 0 && errno != EAGAIN)
		fprintf(stderr, "net-user-bridge: write: %s\n", strerror(errno));
}

static int stop_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

static void bridge(int tap, int device, int stop)
{
	struct pollfd fds[3] = {
		{ .fd = stop, .events = POLLIN },
		{ .fd = device, .events = POLLIN },
		{ .fd = tap, .events = POLLIN },
	};
	nfds_t n = tap >= 0 ? 3 : 2;

	while (poll(fds, n, -1) >= 0 || errno == EINTR) {
		if (fds[0].revents)
			return;
		if (fds[1].revents & POLLIN)
			pass_frame(device, tap);
		if (n == 3 && (fds[2].revents & POLLIN))
			pass_frame(tap, device);
	}
}

int main(int argc, char **argv)
{
	struct options o = { .seccomp = SANDBOX_KILL };
	struct net_backend be;
	struct kiln_err err = { 0 };
	int tap = -1, stop, ret = parse(argc, argv, &o);

	if (ret)
		return ret;
	stop = stop_signals();
	if (o.tap && (tap = open_tap(o.tap, o.tap_netns)) < 0) {
		fprintf(stderr, "net-user-bridge: cannot create tap %s in %s: %s\n", o.tap,
			o.tap_netns, strerror(-tap));
		return 1;
	}
	sandbox_set_mode(o.seccomp);
	ret = net_user_open(&o.net, &be, &err);
	if (!ret) {
		ret = be.start(&be, &err);
		if (ret)
			be.destroy(&be);
	}
	if (ret) {
		fprintf(stderr, "kiln: error: %s\n", err.msg);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	bridge(tap, be.fds[0], stop);
	fprintf(stderr, "net-user-bridge: %llu frames dropped\n",
		(unsigned long long)net_user_frames_dropped(&be));
	be.destroy(&be);
	if (tap >= 0)
		close(tap);
	close(stop);
	return 0;
}
