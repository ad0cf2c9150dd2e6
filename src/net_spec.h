/* SPDX-License-Identifier: MIT */
/* The text forms of network settings (--net, the API's guest_mac), parsed
 * into struct net_config (config.h). */
#ifndef KILN_NET_SPEC_H
#define KILN_NET_SPEC_H

#include "config.h"
#include "util/error.h"

/* "tap=NAME[,mac=MAC][,queues=N]" or "user[,hostfwd=...]..."; NULL or ""
 * is "user". out->id is left for the caller. 0 or -EINVAL with err. */
int net_spec_parse(const char *arg, struct net_config *out, struct kiln_err *err);

/* "02:00:00:aa:bb:cc" (hex pairs, ':' between): 0 or -EINVAL. A multicast
 * address (bit 0 of the first byte) is refused: a NIC cannot have one. */
int net_parse_mac(const char *text, uint8_t mac[6]);

/* "[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT", IPv4 addresses. */
int net_parse_hostfwd(const char *text, struct net_hostfwd *out, struct kiln_err *err);

#endif
