// SPDX-License-Identifier: MIT
/* Firecracker's JSON bodies <-> struct kiln_config (src/api/config_json.c). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "api/config_json.h"

static struct kiln_config fresh(void)
{
	struct kiln_config cfg = { .command = KILN_CMD_RUN, .cpus = 1, .memory_mib = 256 };
	struct kiln_config owned;

	cr_assert_eq(config_clone(&owned, &cfg), 0);
	return owned;
}

static json_t *parse(const char *text)
{
	json_error_t error;
	json_t *value = json_loads(text, 0, &error);

	cr_assert_not_null(value, "%s: %s", text, error.text);
	return value;
}

static int put(int (*fn)(struct kiln_config *, json_t *, struct kiln_err *),
	       struct kiln_config *cfg, const char *text, struct kiln_err *err)
{
	json_t *body = parse(text);
	int ret;

	memset(err, 0, sizeof(*err));
	ret = fn(cfg, body, err);
	json_decref(body);
	return ret;
}

static int put_drive(struct kiln_config *cfg, const char *id, const char *text,
		     struct kiln_err *err)
{
	json_t *body = parse(text);
	int ret;

	memset(err, 0, sizeof(*err));
	ret = config_put_drive(cfg, id, body, err);
	json_decref(body);
	return ret;
}

static int put_machine(struct kiln_config *cfg, json_t *body, struct kiln_err *err)
{
	return config_put_machine(cfg, body, false, err);
}

Test(api_config, boot_source_defaults_and_pci_off)
{
	struct kiln_config cfg = fresh();
	struct kiln_err err;

	cr_assert_eq(put(config_put_boot_source, &cfg, "{\"kernel_image_path\": \"/k\"}", &err), 0);
	cr_assert_str_eq(cfg.kernel, "/k");
	cr_assert_str_eq(cfg.cmdline, KILN_DEFAULT_BOOT_ARGS);
	cr_assert_null(cfg.initrd);
	cr_assert_eq(put(config_put_boot_source, &cfg, "{\"kernel_image_path\": \"/k2\", "
			 "\"boot_args\": \"pci=off console=ttyS0  pci=off quiet\"}", &err), 0);
	cr_assert_str_eq(cfg.cmdline, "console=ttyS0 quiet");
	cr_assert_str_eq(cfg.kernel, "/k2");
	config_release(&cfg);
}

Test(api_config, strict_fields)
{
	struct kiln_config cfg = fresh();
	struct kiln_err err;

	cr_assert_neq(put(config_put_boot_source, &cfg, "{\"kernel_image_path\": \"/k\", "
			  "\"kernel\": 1}", &err), 0);
	cr_assert(strstr(err.msg, "unknown field `kernel`"), "%s", err.msg);
	cr_assert(strstr(err.msg, "`kernel_image_path`"), "%s", err.msg);
	cr_assert_neq(put(put_machine, &cfg, "{\"vcpu_count\": true, "
			  "\"mem_size_mib\": 64}", &err), 0);
	cr_assert(strstr(err.msg, "`vcpu_count`") && strstr(err.msg, "an integer"), "%s", err.msg);
	cr_assert_neq(put(config_put_metrics, &cfg, "{}", &err), 0);
	cr_assert(strstr(err.msg, "missing field `metrics_path`"), "%s", err.msg);
	/* null is an absent optional field */
	cr_assert_eq(put(config_put_boot_source, &cfg, "{\"kernel_image_path\": \"/k\", "
			 "\"initrd_path\": null}", &err), 0, "%s", err.msg);
	config_release(&cfg);
}

Test(api_config, drive_ids)
{
	cr_assert(api_id_valid("rootfs_1"));
	cr_assert(!api_id_valid(""));
	cr_assert(!api_id_valid("a-b"));
	cr_assert(!api_id_valid("a/b"));
	cr_assert(api_id_valid("0123456789012345678901234567890123456789012345678901234567890123"));
	cr_assert(!api_id_valid("01234567890123456789012345678901234567890123456789012345678901234"));
}

Test(api_config, root_drive_goes_first_with_root_on_the_command_line)
{
	struct kiln_config cfg = fresh();
	struct kiln_err err;
	char *cmdline;

	cr_assert_eq(put(config_put_boot_source, &cfg, "{\"kernel_image_path\": \"/dev/null\", "
			 "\"boot_args\": \"console=ttyS0\"}", &err), 0);
	cr_assert_eq(put_drive(&cfg, "data", "{\"drive_id\": \"data\", \"path_on_host\": "
			       "\"/dev/null\", \"is_root_device\": false}", &err), 0, "%s", err.msg);
	cr_assert_eq(put_drive(&cfg, "root", "{\"drive_id\": \"root\", \"path_on_host\": "
			       "\"/dev/zero\", \"is_root_device\": true, \"is_read_only\": true}",
			       &err), 0, "%s", err.msg);
	struct kiln_config boot = cfg;

	cr_assert_eq(config_prepare_boot(&boot, &cmdline, &err), 0, "%s", err.msg);
	cr_assert_str_eq(boot.disks[0].id, "root");
	cr_assert_str_eq(boot.disks[1].id, "data");
	cr_assert_str_eq(boot.cmdline, "console=ttyS0 root=/dev/vda ro");
	free(cmdline);
	/* With a partuuid, and writable */
	cr_assert_eq(put_drive(&cfg, "root", "{\"drive_id\": \"root\", \"path_on_host\": "
			       "\"/dev/zero\", \"is_root_device\": true, \"partuuid\": \"ab-01\"}",
			       &err), 0, "%s", err.msg);
	boot = cfg;
	cr_assert_eq(config_prepare_boot(&boot, &cmdline, &err), 0, "%s", err.msg);
	cr_assert_str_eq(boot.cmdline, "console=ttyS0 root=PARTUUID=ab-01 rw");
	free(cmdline);
	config_release(&cfg);
}

Test(api_config, prepare_boot_names_what_is_missing)
{
	struct kiln_config cfg = fresh();
	struct kiln_err err = { 0 };
	char *cmdline;

	cr_assert_neq(config_prepare_boot(&cfg, &cmdline, &err), 0);
	cr_assert(strstr(err.msg, "kernel"), "%s", err.msg);
	cr_assert_eq(put(config_put_boot_source, &cfg, "{\"kernel_image_path\": "
			 "\"/nonexistent/bzImage\"}", &err), 0);
	memset(&err, 0, sizeof(err));
	cr_assert_neq(config_prepare_boot(&cfg, &cmdline, &err), 0);
	cr_assert(strstr(err.msg, "/nonexistent/bzImage"), "%s", err.msg);
	config_release(&cfg);
}

Test(api_config, document_round_trip)
{
	struct kiln_config cfg = fresh();
	struct kiln_err err = { 0 };
	json_t *doc = parse("{\"boot-source\": {\"kernel_image_path\": \"/k\", \"boot_args\": "
			    "\"quiet\"}, \"machine-config\": {\"vcpu_count\": 3, \"mem_size_mib\": "
			    "100}, \"drives\": [{\"drive_id\": \"d\", \"path_on_host\": \"/d\", "
			    "\"is_root_device\": false, \"is_read_only\": true}], \"entropy\": {}, "
			    "\"network-interfaces\": [], \"vsock\": null}");
	json_t *out;

	cr_assert_eq(config_put_document(&cfg, doc, &err), 0, "%s", err.msg);
	out = config_to_json(&cfg);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(out, "machine-config"),
							"vcpu_count")), 3);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(out, "boot-source"),
							   "boot_args")), "quiet");
	cr_assert_eq(json_is_true(json_object_get(json_array_get(json_object_get(out, "drives"), 0),
						  "is_read_only")), true);
	cr_assert(json_is_object(json_object_get(out, "entropy")));
	json_decref(out);
	json_decref(doc);
	config_release(&cfg);
}

Test(api_config, document_refuses_devices_kiln_lacks)
{
	struct kiln_config cfg = fresh();
	struct kiln_err err = { 0 };
	json_t *doc = parse("{\"balloon\": {\"amount_mib\": 1, \"deflate_on_oom\": false}}");

	cr_assert_neq(config_put_document(&cfg, doc, &err), 0);
	cr_assert(strstr(err.msg, "`balloon`"), "%s", err.msg);
	json_decref(doc);
	config_release(&cfg);
}

Test(api_config, vsock_in_firecrackers_form)
{
	struct kiln_config cfg = fresh();
	struct kiln_err err = { 0 };
	json_t *doc = parse("{\"vsock\": {\"vsock_id\": \"vsock0\", \"guest_cid\": 3, "
			    "\"uds_path\": \"/v.sock\"}}");

	cr_assert_eq(config_put_document(&cfg, doc, &err), 0, "%s", err.msg);
	cr_assert(cfg.vsock.enabled);
	cr_assert_eq(cfg.vsock.guest_cid, 3);
	cr_assert_str_eq(cfg.vsock.uds_path, "/v.sock");
	json_decref(doc);
	config_release(&cfg);
}

Test(api_config, vsock_cid_out_of_range)
{
	static const char *const bodies[] = {
		"{\"guest_cid\": 2, \"uds_path\": \"/v\"}",
		"{\"guest_cid\": -1, \"uds_path\": \"/v\"}",
		"{\"guest_cid\": 4294967295, \"uds_path\": \"/v\"}",
		"{\"guest_cid\": 3}",
		"{\"guest_cid\": 3, \"uds_path\": \"\"}",
	};

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct kiln_config cfg = fresh();
		struct kiln_err err = { 0 };
		json_t *body = parse(bodies[i]);

		cr_assert_neq(config_put_vsock(&cfg, body, &err), 0, "%s", bodies[i]);
		cr_assert_not(cfg.vsock.enabled, "%s", bodies[i]);
		cr_assert(err.msg[0]);
		json_decref(body);
		config_release(&cfg);
	}
}
