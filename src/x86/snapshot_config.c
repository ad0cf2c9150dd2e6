// SPDX-License-Identifier: MIT
#include "x86/snapshot_config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *disk_to_json(const struct kiln_disk *d)
{
	return json_pack("{s:o, s:s, s:b, s:I, s:o, s:i, s:I, s:b, s:b}",
			 "id", str_or_null(d->id), "path", d->path, "readonly", d->readonly,
			 "queues", (json_int_t)d->queues, "serial", str_or_null(d->serial),
			 "direct", d->direct, "poll_us", (json_int_t)d->poll_us,
			 "cache_writeback", d->cache_writeback, "is_root", d->is_root);
}

static json_t *net_to_json(const struct net_config *n)
{
	json_t *fwd = json_array();

	for (unsigned int i = 0; fwd && i < n->user.nr_fwd; i++) {
		const struct net_hostfwd *f = &n->user.fwd[i];

		json_array_append_new(fwd, json_pack("{s:b, s:I, s:I, s:I, s:I}", "udp", f->udp,
						     "host_addr", (json_int_t)f->host_addr,
						     "host_port", (json_int_t)f->host_port,
						     "guest_addr", (json_int_t)f->guest_addr,
						     "guest_port", (json_int_t)f->guest_port));
	}
	char mac[18];

	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1],
		 n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
	return json_pack("{s:s, s:s, s:s, s:b, s:I, s:s, s:o}",
			 "kind", n->kind == NET_TAP ? "tap" : "user", "id", n->id,
			 "mac", mac, "mac_set", n->mac_set,
			 "queues", (json_int_t)n->queues, "tap", n->tap.name, "hostfwd", fwd);
}

char *snapshot_config_encode(const struct kiln_config *cfg, int cpu_template)
{
	json_t *disks = json_array(), *nets = json_array(), *root;
	char *text;

	for (unsigned int i = 0; disks && i < cfg->nr_disks; i++)
		json_array_append_new(disks, disk_to_json(&cfg->disks[i]));
	for (unsigned int i = 0; nets && i < cfg->nr_nets; i++)
		json_array_append_new(nets, net_to_json(&cfg->nets[i]));
	root = json_pack("{s:I, s:I, s:i, s:b, s:b, s:b, s:b, s:o, s:I, s:o, s:o, s:b, s:I, s:o,"
			 " s:i, s:o, s:o, s:I}",
			 "cpus", (json_int_t)cfg->cpus, "memory_mib", (json_int_t)cfg->memory_mib,
			 "console", (int)cfg->console, "debug_exit", cfg->debug_exit,
			 "test_devices", cfg->test_devices, "rng", cfg->rng,
			 "virtio_console", cfg->virtio_console,
			 "virtio_console_path", str_or_null(cfg->virtio_console_path),
			 "console_limit", (json_int_t)cfg->console_limit, "disks", disks,
			 "nets", nets, "vsock", cfg->vsock.enabled,
			 "vsock_cid", (json_int_t)cfg->vsock.guest_cid,
			 "vsock_path", str_or_null(cfg->vsock.uds_path),
			 "cpu_template", cpu_template, "cpu_config", str_or_null(cfg->cpu_config),
			 "cpu_features", str_or_null(cfg->cpu_features),
			 "hyperv", (json_int_t)cfg->hyperv);
	if (!root)
		return NULL;
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text;
}

/* A string member, or NULL for JSON null. */
static const char *opt_string(json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int decode_disk(json_t *j, struct kiln_disk *d, json_error_t *e)
{
	json_t *id, *serial;
	json_int_t queues, poll_us;
	int direct, readonly, writeback, root;

	if (json_unpack_ex(j, e, JSON_STRICT, "{s:o, s:s, s:b, s:I, s:o, s:i, s:I, s:b, s:b}",
			   "id", &id, "path", &d->path, "readonly", &readonly, "queues", &queues,
			   "serial", &serial, "direct", &direct, "poll_us", &poll_us,
			   "cache_writeback", &writeback, "is_root", &root))
		return -EINVAL;
	d->id = opt_string(id);
	d->serial = opt_string(serial);
	d->readonly = readonly;
	d->queues = (unsigned int)queues;
	d->direct = direct;
	d->poll_us = (unsigned int)poll_us;
	d->cache_writeback = writeback;
	d->is_root = root;
	return queues >= 1 && queues <= 8 ? 0 : -EINVAL;
}

static int decode_net(json_t *j, struct net_config *n, json_error_t *e)
{
	const char *kind, *id, *mac, *tap;
	unsigned int b[6];
	char end;
	json_int_t queues;
	json_t *fwd, *f;
	size_t i;
	int mac_set;

	if (json_unpack_ex(j, e, JSON_STRICT, "{s:s, s:s, s:s, s:b, s:I, s:s, s:o}", "kind", &kind,
			   "id", &id, "mac", &mac, "mac_set", &mac_set, "queues", &queues,
			   "tap", &tap, "hostfwd", &fwd) ||
	    sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &end) != 6 || strlen(id) >= sizeof(n->id) ||
	    strlen(tap) >= sizeof(n->tap.name) || !json_is_array(fwd) ||
	    json_array_size(fwd) > NET_MAX_HOSTFWD || queues < 1 || queues > NET_MAX_QUEUE_PAIRS)
		return -EINVAL;
	n->kind = !strcmp(kind, "tap") ? NET_TAP : NET_USER;
	strcpy(n->id, id);
	for (unsigned int k = 0; k < 6; k++)
		n->mac[k] = (uint8_t)b[k];
	n->mac_set = mac_set;
	n->queues = (unsigned int)queues;
	strcpy(n->tap.name, tap);
	json_array_foreach(fwd, i, f) {
		struct net_hostfwd *h = &n->user.fwd[i];
		json_int_t ha, hp, ga, gp;
		int udp;

		if (json_unpack_ex(f, e, JSON_STRICT, "{s:b, s:I, s:I, s:I, s:I}", "udp", &udp,
				   "host_addr", &ha, "host_port", &hp, "guest_addr", &ga,
				   "guest_port", &gp))
			return -EINVAL;
		*h = (struct net_hostfwd){ udp, (uint32_t)ha, (uint16_t)hp, (uint32_t)ga,
					   (uint16_t)gp };
		n->user.nr_fwd++;
	}
	return 0;
}

static int decode_devices(json_t *disks, json_t *nets, struct kiln_config *cfg, json_error_t *e)
{
	json_t *item;
	size_t i;

	if (!json_is_array(disks) || json_array_size(disks) > KILN_MAX_DISKS ||
	    !json_is_array(nets) || json_array_size(nets) > KILN_MAX_NETS)
		return -EINVAL;
	json_array_foreach(disks, i, item)
		if (decode_disk(item, &cfg->disks[cfg->nr_disks++], e))
			return -EINVAL;
	json_array_foreach(nets, i, item) {
		if (decode_net(item, &cfg->nets[cfg->nr_nets], e))
			return -EINVAL;
		if (cfg->nets[cfg->nr_nets++].kind == NET_USER)
			cfg->jail_keep_network = true;
	}
	return 0;
}

static int decode_root(json_t *root, struct kiln_config *cfg, json_error_t *e)
{
	json_int_t cpus, memory, limit, cid, hyperv;
	json_t *vc_path, *disks, *nets, *vsock_path, *cpu_config, *cpu_features;
	int console, debug_exit, test_devices, rng, virtio_console, vsock;

	if (json_unpack_ex(root, e, JSON_STRICT,
			   "{s:I, s:I, s:i, s:b, s:b, s:b, s:b, s:o, s:I, s:o, s:o, s:b, s:I, s:o,"
			   " s:i, s:o, s:o, s:I}",
			   "cpus", &cpus, "memory_mib", &memory, "console", &console,
			   "debug_exit", &debug_exit, "test_devices", &test_devices, "rng", &rng,
			   "virtio_console", &virtio_console, "virtio_console_path", &vc_path,
			   "console_limit", &limit, "disks", &disks, "nets", &nets, "vsock", &vsock,
			   "vsock_cid", &cid, "vsock_path", &vsock_path,
			   "cpu_template", &cfg->cpu_template, "cpu_config", &cpu_config,
			   "cpu_features", &cpu_features, "hyperv", &hyperv))
		return -EINVAL;
	if (cpus < 1 || cpus > KILN_MAX_CPUS || memory < 8 || memory > (1LL << 26) ||
	    console < CONSOLE_SERIAL || console > CONSOLE_VIRTIO || limit < 0 || hyperv < 0)
		return -EINVAL;
	cfg->cpus = (unsigned int)cpus;
	cfg->memory_mib = (uint64_t)memory;
	cfg->console = (enum console_mode)console;
	cfg->debug_exit = debug_exit;
	cfg->test_devices = test_devices;
	cfg->rng = rng;
	cfg->virtio_console = virtio_console;
	cfg->virtio_console_path = opt_string(vc_path);
	cfg->console_limit = (uint64_t)limit;
	cfg->vsock = (struct kiln_vsock){ vsock, (uint64_t)cid, opt_string(vsock_path) };
	cfg->cpu_config = opt_string(cpu_config);
	cfg->cpu_features = opt_string(cpu_features);
	cfg->hyperv = (unsigned int)hyperv;
	/* The template the machine ran with, as it was resolved then. */
	cfg->no_pvm_profile = true;
	return decode_devices(disks, nets, cfg, e);
}

int snapshot_config_decode(const char *text, size_t len, struct kiln_config *cfg, void **holder,
			   struct kiln_err *err)
{
	json_error_t e = { 0 };
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);

	memset(cfg, 0, sizeof(*cfg));
	cfg->command = KILN_CMD_RUN;
	cfg->cmdline = "";
	*holder = NULL;
	if (!root || decode_root(root, cfg, &e)) {
		json_decref(root);
		return err_set(err, -EINVAL, "the snapshot's machine configuration is not valid: %s",
			       e.text[0] ? e.text : "a value is out of range");
	}
	*holder = root;
	return 0;
}

void snapshot_config_release(void *holder)
{
	json_decref(holder);
}
