// SPDX-License-Identifier: MIT
/*
 * The snapshot's "config" section (src/x86/snapshot_config.c) over hostile
 * bytes: a refusal always says why; an accepted configuration stays in the
 * ranges the machine is built from, and encoding it gives text that decodes
 * to the same machine.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "x86/snapshot_config.h"

static void check_limits(const struct kiln_config *c)
{
	FUZZ_CHECK(c->cpus >= 1 && c->cpus <= KILN_MAX_CPUS, "%u vCPUs", c->cpus);
	FUZZ_CHECK(c->memory_mib >= 8, "%llu MiB", (unsigned long long)c->memory_mib);
	FUZZ_CHECK(c->nr_disks <= KILN_MAX_DISKS && c->nr_nets <= KILN_MAX_NETS, "device counts");
	for (unsigned int i = 0; i < c->nr_disks; i++)
		FUZZ_CHECK(c->disks[i].path && c->disks[i].queues >= 1 && c->disks[i].queues <= 8,
			   "disk %u", i);
	for (unsigned int i = 0; i < c->nr_nets; i++)
		FUZZ_CHECK(c->nets[i].queues >= 1 && c->nets[i].queues <= NET_MAX_QUEUE_PAIRS &&
			   c->nets[i].user.nr_fwd <= NET_MAX_HOSTFWD, "net %u", i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kiln_config cfg, again;
	struct kiln_err err = { 0 };
	void *holder, *holder2;
	char *text;

	if (snapshot_config_decode((const char *)data, size, &cfg, &holder, &err)) {
		FUZZ_CHECK(err.msg[0] && !holder, "a refusal without a message");
		return 0;
	}
	check_limits(&cfg);
	text = snapshot_config_encode(&cfg, cfg.cpu_template);
	FUZZ_CHECK(text != NULL, "cannot encode an accepted configuration");
	FUZZ_CHECK(snapshot_config_decode(text, strlen(text), &again, &holder2, &err) == 0, "%s",
		   err.msg);
	FUZZ_CHECK(again.cpus == cfg.cpus && again.memory_mib == cfg.memory_mib &&
		   again.nr_disks == cfg.nr_disks && again.nr_nets == cfg.nr_nets &&
		   again.vsock.enabled == cfg.vsock.enabled && again.hyperv == cfg.hyperv,
		   "the machine changed on the way round");
	snapshot_config_release(holder2);
	snapshot_config_release(holder);
	free(text);
	return 0;
}
