// SPDX-License-Identifier: MIT
/* The snapshot's "config" section: what rebuilds the machine, and back. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "x86/snapshot_config.h"

Test(snapshot_config, a_machine_comes_back_as_it_was)
{
	struct kiln_config cfg = {
		.cpus = 3, .memory_mib = 512, .console = CONSOLE_VIRTIO, .debug_exit = true,
		.rng = true, .virtio_console = true, .console_limit = 1234, .nr_disks = 2,
		.nr_nets = 1, .hyperv = 5, .cpu_features = "host,-avx",
		.vsock = { true, 7, "/run/v.sock" },
	};
	struct kiln_config back;
	struct kiln_err err = { 0 };
	void *holder;
	char *text;

	cfg.disks[0] = (struct kiln_disk){ .id = "root", .path = "/a.img", .readonly = true,
					   .queues = 2, .serial = "S1", .is_root = true };
	cfg.disks[1] = (struct kiln_disk){ .path = "/b.img", .queues = 1, .poll_us = 50 };
	cfg.nets[0] = (struct net_config){ .kind = NET_USER, .id = "net0", .queues = 1,
					   .mac = { 2, 0, 0, 0xab, 0xcd, 0xef }, .mac_set = true };
	cfg.nets[0].user.nr_fwd = 1;
	cfg.nets[0].user.fwd[0] = (struct net_hostfwd){ false, 0, 2222, 0, 22 };
	text = snapshot_config_encode(&cfg, 2);
	cr_assert_not_null(text);
	cr_assert_eq(snapshot_config_decode(text, strlen(text), &back, &holder, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(back.cpus, 3);
	cr_assert_eq(back.memory_mib, 512);
	cr_assert_eq(back.console, CONSOLE_VIRTIO);
	cr_assert(back.debug_exit && back.rng && back.virtio_console && !back.test_devices);
	cr_assert_eq(back.console_limit, 1234);
	cr_assert_eq(back.cpu_template, 2);
	cr_assert_eq(back.hyperv, 5);
	cr_assert_str_eq(back.cpu_features, "host,-avx");
	cr_assert_null(back.cpu_config);
	cr_assert(back.vsock.enabled && back.vsock.guest_cid == 7);
	cr_assert_str_eq(back.vsock.uds_path, "/run/v.sock");
	cr_assert_eq(back.nr_disks, 2);
	cr_assert_str_eq(back.disks[0].id, "root");
	cr_assert_str_eq(back.disks[0].serial, "S1");
	cr_assert(back.disks[0].readonly && back.disks[0].is_root && back.disks[0].queues == 2);
	cr_assert_null(back.disks[1].id);
	cr_assert_eq(back.disks[1].poll_us, 50);
	cr_assert_eq(back.nr_nets, 1);
	cr_assert_eq(memcmp(back.nets[0].mac, cfg.nets[0].mac, 6), 0);
	cr_assert(back.nets[0].kind == NET_USER && back.jail_keep_network);
	cr_assert_eq(back.nets[0].user.nr_fwd, 1);
	cr_assert_eq(back.nets[0].user.fwd[0].host_port, 2222);
	snapshot_config_release(holder);
	free(text);
}

Test(snapshot_config, bad_configurations_are_one_line)
{
	static const char *const bad[] = {
		"", "[]", "{\"cpus\": 1}",
		/* everything right but 0 vCPUs */
		"{\"cpus\":0,\"memory_mib\":64,\"console\":0,\"debug_exit\":false,"
		"\"test_devices\":false,\"rng\":false,\"virtio_console\":false,"
		"\"virtio_console_path\":null,\"console_limit\":0,\"disks\":[],\"nets\":[],"
		"\"vsock\":false,\"vsock_cid\":0,\"vsock_path\":null,\"cpu_template\":1,"
		"\"cpu_config\":null,\"cpu_features\":null,\"hyperv\":0}",
	};
	struct kiln_config back;
	void *holder;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kiln_err err = { 0 };

		cr_assert_eq(snapshot_config_decode(bad[i], strlen(bad[i]), &back, &holder, &err),
			     -EINVAL, "%s", bad[i]);
		cr_assert(strstr(err.msg, "configuration is not valid"), "%s", err.msg);
		cr_assert_null(strchr(err.msg, '\n'));
		cr_assert_null(holder);
	}
}
