// SPDX-License-Identifier: MIT
#include "net_spec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int net_parse_mac(const char *text, uint8_t mac[6])
{
	unsigned int b[6];
	int used = 0;

	if (strlen(text) != 17 ||
	    sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &used) != 6 || used != 17)
		return -EINVAL;
	/* sscanf's %x also takes signs and spaces: every byte is two hex digits. */
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? text[i] != ':' : !strchr("0123456789abcdefABCDEF", text[i]))
			return -EINVAL;
	if (b[0] & 1)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

static bool parse_port(const char *text, uint16_t *port)
{
	char *end;
	unsigned long v;

	if (!*text || *text < '0' || *text > '9')
		return false;
	v = strtoul(text, &end, 10);
	if (*end || v < 1 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* "[ADDR]:PORT": an empty address is 0 (any, or the guest's own). */
static bool parse_endpoint(char *text, uint32_t *addr, uint16_t *port)
{
	char *colon = strrchr(text, ':');
	struct in_addr in;

	if (!colon)
		return false;
	*colon = '\0';
	*addr = 0;
	if (*text) {
		if (inet_pton(AF_INET, text, &in) != 1)
			return false;
		*addr = in.s_addr;
	}
	return parse_port(colon + 1, port);
}

int net_parse_hostfwd(const char *text, struct net_hostfwd *out, struct kiln_err *err)
{
	char copy[128], *rest = copy, *dash;

	if (strlen(text) >= sizeof(copy))
		goto bad;
	snprintf(copy, sizeof(copy), "%s", text);
	*out = (struct net_hostfwd){ 0 };
	if (!strncmp(rest, "tcp:", 4)) {
		rest += 4;
	} else if (!strncmp(rest, "udp:", 4)) {
		out->udp = true;
		rest += 4;
	} else if (*rest == ':') {
		rest++; /* no protocol: tcp */
	} else {
		goto bad;
	}
	dash = strchr(rest, '-');
	if (!dash)
		goto bad;
	*dash = '\0';
	if (!parse_endpoint(rest, &out->host_addr, &out->host_port) ||
	    !parse_endpoint(dash + 1, &out->guest_addr, &out->guest_port))
		goto bad;
	return 0;
bad:
	return err_set(err, -EINVAL, "--net user: bad hostfwd '%s' (tcp|udp:[HOSTADDR]:HOSTPORT-"
		       "[GUESTADDR]:GUESTPORT)", text);
}

static int parse_queues(const char *text, unsigned int *queues)
{
	char *end;
	unsigned long v;

	if (*text < '0' || *text > '9')
		return -EINVAL;
	v = strtoul(text, &end, 10);
	if (*end || v < 1 || v > NET_MAX_QUEUE_PAIRS)
		return -EINVAL;
	*queues = (unsigned int)v;
	return 0;
}

static int parse_setting(char *item, struct net_config *out, struct kiln_err *err)
{
	if (!strncmp(item, "mac=", 4)) {
		if (net_parse_mac(item + 4, out->mac))
			return err_set(err, -EINVAL, "--net: bad mac '%s' (six hex pairs with ':', "
				       "unicast)", item + 4);
		out->mac_set = true;
		return 0;
	}
	if (!strncmp(item, "queues=", 7) && out->kind == NET_TAP) {
		if (parse_queues(item + 7, &out->queues))
			return err_set(err, -EINVAL, "--net: queues '%s' must be 1 to %d", item + 7,
				       NET_MAX_QUEUE_PAIRS);
		return 0;
	}
	if (!strncmp(item, "hostfwd=", 8) && out->kind == NET_USER) {
		if (out->user.nr_fwd == NET_MAX_HOSTFWD)
			return err_set(err, -EINVAL, "--net user: at most %d hostfwd", NET_MAX_HOSTFWD);
		return net_parse_hostfwd(item + 8, &out->user.fwd[out->user.nr_fwd++], err);
	}
	return err_set(err, -EINVAL, "--net: unknown or misplaced setting '%s' (tap=NAME"
		       "[,mac=MAC][,queues=N] or user[,mac=MAC][,hostfwd=...])", item);
}

int net_spec_parse(const char *arg, struct net_config *out, struct kiln_err *err)
{
	char *copy, *item, *save = NULL;
	int ret = 0;

	*out = (struct net_config){ .kind = NET_USER, .queues = 1 };
	copy = strdup(arg ? arg : "");
	if (!copy)
		return err_set(err, -ENOMEM, "out of memory");
	item = strtok_r(copy, ",", &save);
	if (item && !strncmp(item, "tap=", 4)) {
		out->kind = NET_TAP;
		if (!item[4] || strlen(item + 4) >= sizeof(out->tap.name))
			ret = err_set(err, -EINVAL, "--net tap: the name '%s' must be 1 to %zu "
				      "characters", item + 4, sizeof(out->tap.name) - 1);
		else
			snprintf(out->tap.name, sizeof(out->tap.name), "%s", item + 4);
	} else if (item && strcmp(item, "user")) {
		ret = err_set(err, -EINVAL, "--net '%s' must start with tap=NAME or user", item);
	}
	while (!ret && (item = strtok_r(NULL, ",", &save)))
		ret = parse_setting(item, out, err);
	free(copy);
	return ret;
}
