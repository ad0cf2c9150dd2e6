// SPDX-License-Identifier: MIT
/* Firecracker's configuration bodies <-> struct kiln_config (config_json.h). */
#include "api/config_json.h"
#include "net_spec.h"

#include "api/api.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/vsock.h"
#include "x86/cpu_profile.h"
#include "x86/cpu_template.h"

#define MIN_MEMORY_MIB 8
#define MAX_MEMORY_MIB (1ULL << 26)

/* What a field of a body may hold; BOOL stands for JSON true and false. */
enum field_kind { FIELD_STRING, FIELD_INTEGER, FIELD_BOOL, FIELD_OBJECT, FIELD_ANY };

struct field_spec {
	const char *name;
	enum field_kind kind;
	bool required;
};

static const char *const kind_names[] = { "a string", "an integer", "a boolean",
					  "an object", "a value" };

static bool kind_matches(json_t *value, enum field_kind kind)
{
	switch (kind) {
	case FIELD_STRING: return json_is_string(value);
	case FIELD_INTEGER: return json_is_integer(value);
	case FIELD_BOOL: return json_is_boolean(value);
	case FIELD_OBJECT: return json_is_object(value);
	default: return true;
	}
}

static const struct field_spec *find_spec(const struct field_spec *spec, const char *name)
{
	for (; spec->name; spec++)
		if (!strcmp(spec->name, name))
			return spec;
	return NULL;
}

static int unknown_field(const char *what, const char *name, const struct field_spec *spec,
			 struct kiln_err *err)
{
	char expected[256] = "";
	size_t used = 0;

	for (; spec->name && used < sizeof(expected); spec++)
		used += (size_t)snprintf(expected + used, sizeof(expected) - used, "%s`%s`",
					 used ? ", " : "", spec->name);
	return err_set(err, -EINVAL, "unknown field `%.64s` in %s, expected one of %s", name, what,
		       expected);
}

/*
 * body must be an object holding only the fields of spec, each of its
 * kind, with the required ones present. null counts as absent, as
 * Firecracker's optional fields take it.
 */
static int check_fields(json_t *body, const char *what, const struct field_spec *spec,
			struct kiln_err *err)
{
	const char *name;
	json_t *value;

	if (!json_is_object(body))
		return err_set(err, -EINVAL, "%s must be a JSON object", what);
	json_object_foreach(body, name, value) {
		const struct field_spec *field = find_spec(spec, name);

		if (!field)
			return unknown_field(what, name, spec, err);
		if (!json_is_null(value) && !kind_matches(value, field->kind))
			return err_set(err, -EINVAL, "field `%s` in %s must be %s", name, what,
				       kind_names[field->kind]);
	}
	for (; spec->name; spec++) {
		value = json_object_get(body, spec->name);
		if (spec->required && (!value || json_is_null(value)))
			return err_set(err, -EINVAL, "missing field `%s` in %s", spec->name, what);
	}
	return 0;
}

/* The field's value when present and not null. */
static json_t *field(json_t *body, const char *name)
{
	json_t *value = json_object_get(body, name);

	return json_is_null(value) ? NULL : value;
}

static const char *field_string(json_t *body, const char *name)
{
	return json_string_value(field(body, name));
}

static bool field_bool(json_t *body, const char *name, bool fallback)
{
	json_t *value = field(body, name);

	return value ? json_is_true(value) : fallback;
}

/* Replace an owned string; value NULL clears it. */
static int set_string(const char **slot, const char *value)
{
	char *copy = NULL;

	if (value && !(copy = strdup(value)))
		return -ENOMEM;
	free((char *)*slot);
	*slot = copy;
	return 0;
}

bool api_id_valid(const char *id)
{
	size_t len = strlen(id);

	if (len == 0 || len > API_ID_MAX_LEN)
		return false;
	for (; *id; id++)
		if (!isalnum((unsigned char)*id) && *id != '_')
			return false;
	return true;
}

/* Every string a configuration can own, so clone and release agree. */
static void for_each_string(struct kiln_config *cfg, void (*fn)(const char **slot, void *arg),
			    void *arg)
{
	const char **slots[] = { &cfg->kernel, &cfg->initrd, &cfg->cmdline,
				 &cfg->virtio_console_path, &cfg->kvm_device, &cfg->api_sock,
				 &cfg->config_file, &cfg->instance_id, &cfg->logger.path,
				 &cfg->logger.module, &cfg->metrics_path, &cfg->cpu_config,
				 &cfg->cpu_features, &cfg->vsock.uds_path };

	for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++)
		fn(slots[i], arg);
	for (unsigned int i = 0; i < KILN_MAX_DISKS; i++) {
		fn(&cfg->disks[i].id, arg);
		fn(&cfg->disks[i].path, arg);
		fn(&cfg->disks[i].serial, arg);
		fn(&cfg->disks[i].partuuid, arg);
	}
}

static void dup_slot(const char **slot, void *failed)
{
	if (*slot && !(*slot = strdup(*slot)))
		*(bool *)failed = true;
}

static void free_slot(const char **slot, void *unused)
{
	(void)unused;
	free((char *)*slot);
	*slot = NULL;
}

int config_clone(struct kiln_config *dst, const struct kiln_config *src)
{
	bool failed = false;

	*dst = *src;
	for_each_string(dst, dup_slot, &failed);
	if (failed) {
		config_release(dst); /* the NULLs left by failures free as no-ops */
		return -ENOMEM;
	}
	return 0;
}

void config_release(struct kiln_config *cfg)
{
	for_each_string(cfg, free_slot, NULL);
}

/* boot_args without any pci=off: kiln's virtio devices are on PCI. */
static char *strip_pci_off(const char *args)
{
	char *out = calloc(1, strlen(args) + 1), *copy = strdup(args), *save = NULL, *word;

	if (!out || !copy) {
		free(out);
		free(copy);
		return NULL;
	}
	for (word = strtok_r(copy, " \t", &save); word; word = strtok_r(NULL, " \t", &save)) {
		if (!strcmp(word, "pci=off"))
			continue;
		if (*out)
			strcat(out, " ");
		strcat(out, word);
	}
	free(copy);
	return out;
}

int config_put_boot_source(struct kiln_config *cfg, json_t *body, struct kiln_err *err)
{
	static const struct field_spec spec[] = {
		{ "kernel_image_path", FIELD_STRING, true },
		{ "boot_args", FIELD_STRING, false },
		{ "initrd_path", FIELD_STRING, false },
		{ NULL, 0, false },
	};
	const char *args;
	char *cmdline;
	int ret = check_fields(body, "boot-source", spec, err);

	if (ret)
		return ret;
	args = field_string(body, "boot_args");
	cmdline = strip_pci_off(args ? args : KILN_DEFAULT_BOOT_ARGS);
	if (!cmdline)
		return err_set(err, -ENOMEM, "out of memory");
	free((char *)cfg->cmdline);
	cfg->cmdline = cmdline;
	if (set_string(&cfg->kernel, field_string(body, "kernel_image_path")) ||
	    set_string(&cfg->initrd, field_string(body, "initrd_path")))
		return err_set(err, -ENOMEM, "out of memory");
	return 0;
}

static int drive_refusals(json_t *body, struct kiln_err *err)
{
	if (field(body, "socket"))
		return err_set(err, -EINVAL, "drives: `socket` (vhost-user-block) is not supported "
			       "by kiln");
	if (field(body, "rate_limiter"))
		return err_set(err, -EINVAL, "drives: `rate_limiter` is not supported by kiln");
	if (!field(body, "path_on_host"))
		return err_set(err, -EINVAL, "missing field `path_on_host` in drives");
	return 0;
}

static int drive_enums(json_t *body, struct kiln_disk *disk, struct kiln_err *err)
{
	const char *cache = field_string(body, "cache_type");
	const char *engine = field_string(body, "io_engine");

	if (cache && strcmp(cache, "Unsafe") && strcmp(cache, "Writeback"))
		return err_set(err, -EINVAL, "drives: cache_type `%.64s` must be `Unsafe` or "
			       "`Writeback`", cache);
	if (engine && strcmp(engine, "Sync") && strcmp(engine, "Async"))
		return err_set(err, -EINVAL, "drives: io_engine `%.64s` must be `Sync` or `Async`",
			       engine);
	disk->cache_writeback = cache && !strcmp(cache, "Writeback");
	disk->io_engine_async = engine && !strcmp(engine, "Async");
	return 0;
}

static int find_drive(const struct kiln_config *cfg, const char *id)
{
	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		if (cfg->disks[i].id && !strcmp(cfg->disks[i].id, id))
			return (int)i;
	return -1;
}

/* Where the drive goes: its old slot, or a new one. */
static int drive_slot(struct kiln_config *cfg, const char *id, bool is_root, struct kiln_err *err)
{
	int index = find_drive(cfg, id);

	for (unsigned int i = 0; is_root && i < cfg->nr_disks; i++)
		if (cfg->disks[i].is_root && (int)i != index)
			return err_set(err, -EINVAL, "a root block device already exists (drive "
				       "`%s`)", cfg->disks[i].id ? cfg->disks[i].id : "from --disk");
	if (index >= 0)
		return index;
	if (cfg->nr_disks == KILN_MAX_DISKS)
		return err_set(err, -EINVAL, "kiln supports at most %d drives", KILN_MAX_DISKS);
	cfg->disks[cfg->nr_disks] = (struct kiln_disk){ .queues = 1 };
	return (int)cfg->nr_disks++;
}

int config_put_drive(struct kiln_config *cfg, const char *path_id, json_t *body,
		     struct kiln_err *err)
{
	static const struct field_spec spec[] = {
		{ "drive_id", FIELD_STRING, true },
		{ "path_on_host", FIELD_STRING, false },
		{ "is_root_device", FIELD_BOOL, true },
		{ "is_read_only", FIELD_BOOL, false },
		{ "partuuid", FIELD_STRING, false },
		{ "cache_type", FIELD_STRING, false },
		{ "io_engine", FIELD_STRING, false },
		{ "rate_limiter", FIELD_OBJECT, false },
		{ "socket", FIELD_STRING, false },
		{ NULL, 0, false },
	};
	struct kiln_disk parsed = { .queues = 1 };
	const char *id;
	int ret, slot;

	if ((ret = check_fields(body, "drives", spec, err)) || (ret = drive_refusals(body, err)) ||
	    (ret = drive_enums(body, &parsed, err)))
		return ret;
	id = field_string(body, "drive_id");
	if (!api_id_valid(id))
		return err_set(err, -EINVAL, "invalid drive_id `%.64s`: it must be 1 to %d "
			       "characters from A-Z, a-z, 0-9 and _", id, API_ID_MAX_LEN);
	if (path_id && strcmp(path_id, id))
		return err_set(err, -EINVAL, "the drive_id in the path (`%.64s`) does not match the "
			       "one in the body (`%.64s`)", path_id, id);
	parsed.is_root = field_bool(body, "is_root_device", false);
	parsed.readonly = field_bool(body, "is_read_only", false);
	slot = drive_slot(cfg, id, parsed.is_root, err);
	if (slot < 0)
		return slot;
	free((char *)cfg->disks[slot].id);
	free((char *)cfg->disks[slot].path);
	free((char *)cfg->disks[slot].serial);
	free((char *)cfg->disks[slot].partuuid);
	cfg->disks[slot] = parsed;
	if (set_string(&cfg->disks[slot].id, id) ||
	    set_string(&cfg->disks[slot].path, field_string(body, "path_on_host")) ||
	    set_string(&cfg->disks[slot].partuuid, field_string(body, "partuuid")))
		return err_set(err, -ENOMEM, "out of memory");
	return 0;
}

static int machine_values(json_t *body, struct kiln_config *cfg, struct kiln_err *err)
{
	json_t *cpus = field(body, "vcpu_count"), *mem = field(body, "mem_size_mib");
	const char *template = field_string(body, "cpu_template");
	const char *huge = field_string(body, "huge_pages");

	if (cpus && (json_integer_value(cpus) < 1 || json_integer_value(cpus) > KILN_MAX_CPUS))
		return err_set(err, -EINVAL, "machine-config: vcpu_count %lld must be from 1 to %d",
			       (long long)json_integer_value(cpus), KILN_MAX_CPUS);
	if (mem && (json_integer_value(mem) < MIN_MEMORY_MIB ||
		    (unsigned long long)json_integer_value(mem) > MAX_MEMORY_MIB))
		return err_set(err, -EINVAL, "machine-config: mem_size_mib %lld must be from %d to "
			       "%llu", (long long)json_integer_value(mem), MIN_MEMORY_MIB,
			       MAX_MEMORY_MIB);
	if (field_bool(body, "smt", false))
		return err_set(err, -EINVAL, "machine-config: smt true is not supported by kiln "
			       "(each vCPU is its own core)");
	if (template && strcmp(template, "None"))
		return err_set(err, -EINVAL, "machine-config: cpu_template `%.32s` is not supported "
			       "by kiln (only `None`)", template);
	if (huge && strcmp(huge, "None") && strcmp(huge, "Transparent"))
		return err_set(err, -EINVAL, "machine-config: huge_pages `%.32s` is not supported "
			       "by kiln (`None` or `Transparent`; guest RAM is always advised for "
			       "transparent huge pages)", huge);
	if (cpus)
		cfg->cpus = (unsigned int)json_integer_value(cpus);
	if (mem)
		cfg->memory_mib = (uint64_t)json_integer_value(mem);
	if (huge)
		cfg->huge_pages = strcmp(huge, "None") ? HUGE_PAGES_TRANSPARENT : HUGE_PAGES_NONE;
	if (field(body, "track_dirty_pages"))
		cfg->track_dirty_pages = field_bool(body, "track_dirty_pages", false);
	return 0;
}

int config_put_machine(struct kiln_config *cfg, json_t *body, bool partial,
		       struct kiln_err *err)
{
	const struct field_spec spec[] = {
		{ "vcpu_count", FIELD_INTEGER, !partial },
		{ "mem_size_mib", FIELD_INTEGER, !partial },
		{ "smt", FIELD_BOOL, false },
		{ "track_dirty_pages", FIELD_BOOL, false },
		{ "cpu_template", FIELD_STRING, false },
		{ "huge_pages", FIELD_STRING, false },
		{ NULL, 0, false },
	};
	int ret = check_fields(body, "machine-config", spec, err);

	if (ret)
		return ret;
	if (!partial) { /* PUT: what is not given goes back to its default */
		cfg->track_dirty_pages = false;
		cfg->huge_pages = HUGE_PAGES_NONE;
	}
	return machine_values(body, cfg, err);
}

static int log_level_from_name(const char *name, bool *off)
{
	static const struct { const char *name; int level; } levels[] = {
		{ "Error", LOG_ERROR }, { "Warning", LOG_WARN }, { "Warn", LOG_WARN },
		{ "Info", LOG_INFO }, { "Debug", LOG_DEBUG }, { "Trace", LOG_DEBUG },
		{ "Off", LOG_ERROR },
	};

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (!strcasecmp(name, levels[i].name)) {
			*off = !strcasecmp(name, "Off");
			return levels[i].level;
		}
	return -1;
}

int config_put_logger(struct kiln_config *cfg, json_t *body, struct kiln_err *err)
{
	static const struct field_spec spec[] = {
		{ "log_path", FIELD_STRING, false },
		{ "level", FIELD_STRING, false },
		{ "show_level", FIELD_BOOL, false },
		{ "show_log_origin", FIELD_BOOL, false },
		{ "module", FIELD_STRING, false },
		{ NULL, 0, false },
	};
	const char *level = NULL;
	bool off = false;
	int ret = check_fields(body, "logger", spec, err), value = LOG_INFO;

	if (ret)
		return ret;
	level = field_string(body, "level");
	if (level && (value = log_level_from_name(level, &off)) < 0)
		return err_set(err, -EINVAL, "logger: level `%.32s` must be one of Error, Warning, "
			       "Info, Debug, Trace, Off", level);
	cfg->logger.level = off ? -1 : value; /* Firecracker's default level is Info */
	cfg->logger.level_set = level != NULL;
	cfg->logger.show_level = field_bool(body, "show_level", false);
	cfg->logger.show_log_origin = field_bool(body, "show_log_origin", false);
	cfg->logger_set = true;
	if (set_string(&cfg->logger.path, field_string(body, "log_path")) ||
	    set_string(&cfg->logger.module, field_string(body, "module")))
		return err_set(err, -ENOMEM, "out of memory");
	return 0;
}

int config_put_metrics(struct kiln_config *cfg, json_t *body, struct kiln_err *err)
{
	static const struct field_spec spec[] = {
		{ "metrics_path", FIELD_STRING, true },
		{ NULL, 0, false },
	};
	int ret = check_fields(body, "metrics", spec, err);

	if (ret)
		return ret;
	if (set_string(&cfg->metrics_path, field_string(body, "metrics_path")))
		return err_set(err, -ENOMEM, "out of memory");
	return 0;
}

int config_put_entropy(struct kiln_config *cfg, json_t *body, struct kiln_err *err)
{
	static const struct field_spec spec[] = {
		{ "rate_limiter", FIELD_OBJECT, false },
		{ NULL, 0, false },
	};
	int ret = check_fields(body, "entropy", spec, err);

	if (ret)
		return ret;
	if (field(body, "rate_limiter"))
		return err_set(err, -EINVAL, "entropy: `rate_limiter` is not supported by kiln");
	cfg->rng = true;
	return 0;
}

/* Firecracker's vsock body: the deprecated vsock_id is taken and ignored. */
int config_put_vsock(struct kiln_config *cfg, json_t *body, struct kiln_err *err)
{
	static const struct field_spec spec[] = {
		{ "guest_cid", FIELD_INTEGER, true },
		{ "uds_path", FIELD_STRING, true },
		{ "vsock_id", FIELD_STRING, false },
		{ NULL, 0, false },
	};
	int ret = check_fields(body, "vsock", spec, err);
	json_int_t cid;

	if (ret)
		return ret;
	cid = json_integer_value(field(body, "guest_cid"));
	if (cid < 0)
		return err_set(err, -EINVAL, "vsock: `guest_cid` must be at least 3");
	if ((ret = virtio_vsock_check_cid((uint64_t)cid, err)))
		return ret;
	if (!*field_string(body, "uds_path"))
		return err_set(err, -EINVAL, "vsock: `uds_path` must not be empty");
	if (set_string(&cfg->vsock.uds_path, field_string(body, "uds_path")))
		return err_set(err, -ENOMEM, "out of memory");
	cfg->vsock.guest_cid = (uint64_t)cid;
	cfg->vsock.enabled = true;
	return 0;
}

/* Keys of Firecracker's configuration kiln has no device for: only absent,
 * null or empty is accepted. */
static const char *const unsupported_keys[] = {
	"balloon", "mmds-config", "pmem",
	"memory-hotplug", "serial",
};

static int check_unsupported(const char *key, json_t *value, bool *known, struct kiln_err *err)
{
	for (size_t i = 0; i < sizeof(unsupported_keys) / sizeof(unsupported_keys[0]); i++) {
		if (strcmp(key, unsupported_keys[i]))
			continue;
		*known = true;
		if (json_is_null(value) || (json_is_array(value) && !json_array_size(value)) ||
		    (json_is_object(value) && !json_object_size(value)))
			return 0;
		return err_set(err, -EINVAL, "`%s` is not supported by kiln yet (leave it out, "
			       "empty or null)", key);
	}
	return 0;
}

/* Rate limiters: kiln has none, so only an absent, null or all-null one. */
static int net_refusals(json_t *body, struct kiln_err *err)
{
	static const char *const limiters[] = { "rx_rate_limiter", "tx_rate_limiter" };

	for (size_t i = 0; i < 2; i++) {
		json_t *limiter = field(body, limiters[i]), *value;
		const char *key;

		json_object_foreach(limiter, key, value) {
			if (!json_is_null(value))
				return err_set(err, -EINVAL, "network-interfaces: `%s` is not supported "
					       "by kiln (leave it out, empty or null)", limiters[i]);
		}
	}
	return 0;
}

static int find_net(const struct kiln_config *cfg, const char *id)
{
	for (unsigned int i = 0; i < cfg->nr_nets; i++)
		if (!strcmp(cfg->nets[i].id, id))
			return (int)i;
	return -1;
}

int config_put_network_interface(struct kiln_config *cfg, const char *path_id, json_t *body,
				 struct kiln_err *err)
{
	static const struct field_spec spec[] = {
		{ "iface_id", FIELD_STRING, true },
		{ "host_dev_name", FIELD_STRING, true },
		{ "guest_mac", FIELD_STRING, false },
		{ "rx_rate_limiter", FIELD_OBJECT, false },
		{ "tx_rate_limiter", FIELD_OBJECT, false },
		{ NULL, 0, false },
	};
	struct net_config parsed = { .kind = NET_TAP, .queues = 1 };
	const char *id, *dev, *mac;
	int ret, slot;

	if ((ret = check_fields(body, "network-interfaces", spec, err)) ||
	    (ret = net_refusals(body, err)))
		return ret;
	id = field_string(body, "iface_id");
	dev = field_string(body, "host_dev_name");
	mac = field_string(body, "guest_mac");
	if (!api_id_valid(id))
		return err_set(err, -EINVAL, "invalid iface_id `%.64s`: it must be 1 to %d "
			       "characters from A-Z, a-z, 0-9 and _", id, API_ID_MAX_LEN);
	if (path_id && strcmp(path_id, id))
		return err_set(err, -EINVAL, "the iface_id in the path (`%.64s`) does not match the "
			       "one in the body (`%.64s`)", path_id, id);
	if (!*dev || strlen(dev) >= sizeof(parsed.tap.name))
		return err_set(err, -EINVAL, "network-interfaces: host_dev_name `%.64s` must be 1 to "
			       "%zu characters", dev, sizeof(parsed.tap.name) - 1);
	if (mac && net_parse_mac(mac, parsed.mac))
		return err_set(err, -EINVAL, "network-interfaces: guest_mac `%.32s` must be six hex "
			       "pairs with ':' and unicast", mac);
	parsed.mac_set = mac != NULL;
	snprintf(parsed.id, sizeof(parsed.id), "%s", id);
	snprintf(parsed.tap.name, sizeof(parsed.tap.name), "%s", dev);
	slot = find_net(cfg, id);
	if (slot < 0 && cfg->nr_nets == KILN_MAX_NETS)
		return err_set(err, -EINVAL, "kiln supports at most %d network interfaces",
			       KILN_MAX_NETS);
	if (slot < 0)
		slot = (int)cfg->nr_nets++;
	cfg->nets[slot] = parsed;
	return 0;
}

static int put_nets(struct kiln_config *cfg, json_t *nets, struct kiln_err *err)
{
	size_t i;
	json_t *net;
	int ret;

	if (!json_is_array(nets))
		return err_set(err, -EINVAL, "`network-interfaces` must be an array");
	json_array_foreach(nets, i, net) {
		if ((ret = config_put_network_interface(cfg, NULL, net, err)))
			return ret;
	}
	return 0;
}

static int put_drives(struct kiln_config *cfg, json_t *drives, struct kiln_err *err)
{
	size_t i;
	json_t *drive;
	int ret;

	if (!json_is_array(drives))
		return err_set(err, -EINVAL, "`drives` must be an array");
	json_array_foreach(drives, i, drive) {
		if ((ret = config_put_drive(cfg, NULL, drive, err)))
			return ret;
	}
	return 0;
}

/* Keep the template as JSON text: the configuration stays a set of strings
 * (config_clone), and the board reads it again at boot. */
static int keep_cpu_config(struct kiln_config *cfg, char *text, struct kiln_err *err)
{
	if (!text)
		return err_set(err, -ENOMEM, "out of memory");
	free((char *)cfg->cpu_config);
	cfg->cpu_config = text;
	cfg->cpu_template = CPU_TEMPLATE_CUSTOM;
	return 0;
}

int config_put_cpu_config(struct kiln_config *cfg, json_t *body, struct kiln_err *err)
{
	struct cpu_config t;
	int ret = cpu_template_from_json(body, "cpu-config", &t, err);

	if (ret)
		return ret;
	cpu_template_free(&t);
	return keep_cpu_config(cfg, json_dumps(body, JSON_COMPACT), err);
}

/* A config file's "cpu-config": the path of a template file, as in
 * Firecracker, or the template itself. */
static int put_cpu_config_file(struct kiln_config *cfg, json_t *value, struct kiln_err *err)
{
	char *text;
	int ret;

	if (json_is_object(value))
		return config_put_cpu_config(cfg, value, err);
	if (!json_is_string(value))
		return err_set(err, -EINVAL, "`cpu-config` must be the path of a CPU template file");
	ret = cpu_template_read_file("cpu-config", json_string_value(value), &text, err);
	return ret ? ret : keep_cpu_config(cfg, text, err);
}

static int put_section(struct kiln_config *cfg, const char *key, json_t *value,
		       struct kiln_err *err)
{
	if (!strcmp(key, "boot-source"))
		return config_put_boot_source(cfg, value, err);
	if (!strcmp(key, "drives"))
		return put_drives(cfg, value, err);
	if (!strcmp(key, "machine-config"))
		return config_put_machine(cfg, value, false, err);
	if (!strcmp(key, "logger"))
		return config_put_logger(cfg, value, err);
	if (!strcmp(key, "metrics"))
		return config_put_metrics(cfg, value, err);
	if (!strcmp(key, "entropy"))
		return config_put_entropy(cfg, value, err);
	if (!strcmp(key, "cpu-config"))
		return put_cpu_config_file(cfg, value, err);
	if (!strcmp(key, "network-interfaces"))
		return put_nets(cfg, value, err);
	if (!strcmp(key, "vsock"))
		return config_put_vsock(cfg, value, err);
	return 1; /* not ours */
}

int config_put_document(struct kiln_config *cfg, json_t *doc, struct kiln_err *err)
{
	const char *key;
	json_t *value;
	int ret;

	if (!json_is_object(doc))
		return err_set(err, -EINVAL, "the configuration must be a JSON object");
	json_object_foreach(doc, key, value) {
		bool known = false;

		if (json_is_null(value) && strcmp(key, "boot-source"))
			continue;
		ret = put_section(cfg, key, value, err);
		if (ret <= 0) {
			if (ret)
				return ret;
			continue;
		}
		if ((ret = check_unsupported(key, value, &known, err)))
			return ret;
		if (!known)
			return err_set(err, -EINVAL, "unknown key `%.64s` (expected boot-source, "
				       "drives, machine-config, logger, metrics, entropy, cpu-config, "
				       "network-interfaces, vsock)", key);
	}
	return 0;
}

/* A string, or null when unset (Firecracker's optional fields). */
static json_t *string_or_null(const char *value)
{
	return value ? json_string(value) : json_null();
}

json_t *machine_config_to_json(const struct kiln_config *cfg)
{
	return json_pack("{s:I, s:I, s:b, s:b, s:s}", "vcpu_count", (json_int_t)cfg->cpus,
			 "mem_size_mib", (json_int_t)cfg->memory_mib, "smt", 0,
			 "track_dirty_pages", cfg->track_dirty_pages, "huge_pages",
			 cfg->huge_pages == HUGE_PAGES_TRANSPARENT ? "Transparent" : "None");
}

static json_t *drive_to_json(const struct kiln_disk *d, unsigned int index)
{
	char fallback_id[16];

	/* --disk drives have no id: they show as disk0, disk1, ... */
	snprintf(fallback_id, sizeof(fallback_id), "disk%u", index);
	return json_pack("{s:s, s:o, s:b, s:s, s:b, s:o, s:n, s:s, s:n}",
			 "drive_id", d->id ? d->id : fallback_id,
			 "partuuid", string_or_null(d->partuuid),
			 "is_root_device", d->is_root,
			 "cache_type", d->cache_writeback ? "Writeback" : "Unsafe",
			 "is_read_only", d->readonly,
			 "path_on_host", string_or_null(d->path),
			 "rate_limiter",
			 "io_engine", d->io_engine_async ? "Async" : "Sync",
			 "socket");
}

static json_t *boot_source_to_json(const struct kiln_config *cfg)
{
	if (!cfg->kernel)
		return json_null();
	return json_pack("{s:s, s:o, s:o}", "kernel_image_path", cfg->kernel,
			 "initrd_path", string_or_null(cfg->initrd),
			 "boot_args", string_or_null(cfg->cmdline));
}

static json_t *logger_to_json(const struct kiln_config *cfg)
{
	static const char *const names[] = { "Error", "Warning", "Info", "Debug" };
	const struct kiln_logger *l = &cfg->logger;

	if (!cfg->logger_set)
		return json_null();
	return json_pack("{s:o, s:s, s:b, s:b, s:o}", "log_path", string_or_null(l->path),
			 "level", l->level < 0 ? "Off" : names[l->level],
			 "show_level", l->show_level, "show_log_origin", l->show_log_origin,
			 "module", string_or_null(l->module));
}

static json_t *net_to_json(const struct net_config *n)
{
	char mac[18];

	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1],
		 n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
	/* User-mode networking has no host device. */
	return json_pack("{s:s, s:o, s:o, s:n, s:n}", "iface_id", n->id,
			 "host_dev_name", n->kind == NET_TAP ? json_string(n->tap.name) : json_null(),
			 "guest_mac", n->mac_set ? json_string(mac) : json_null(),
			 "rx_rate_limiter", "tx_rate_limiter");
}

json_t *config_to_json(const struct kiln_config *cfg)
{
	json_t *drives = json_array(), *nets = json_array();

	for (unsigned int i = 0; drives && i < cfg->nr_disks; i++)
		json_array_append_new(drives, drive_to_json(&cfg->disks[i], i));
	for (unsigned int i = 0; nets && i < cfg->nr_nets; i++)
		json_array_append_new(nets, net_to_json(&cfg->nets[i]));
	return json_pack("{s:n, s:o, s:o, s:n, s:o, s:o, s:o, s:n, s:o, s:o, s:o}",
			 "balloon",
			 "drives", drives ? drives : json_array(),
			 "boot-source", boot_source_to_json(cfg),
			 "cpu-config",
			 "logger", logger_to_json(cfg),
			 "machine-config", machine_config_to_json(cfg),
			 "metrics", cfg->metrics_path ?
				json_pack("{s:s}", "metrics_path", cfg->metrics_path) : json_null(),
			 "mmds-config",
			 "network-interfaces", nets ? nets : json_array(),
			 "vsock", cfg->vsock.enabled ?
				json_pack("{s:I, s:s}", "guest_cid", (json_int_t)cfg->vsock.guest_cid,
					  "uds_path", cfg->vsock.uds_path) : json_null(),
			 "entropy", cfg->rng ? json_object() : json_null());
}

int config_apply_logger(const struct kiln_config *cfg, struct kiln_err *err)
{
	const struct kiln_logger *l = &cfg->logger;
	int ret;

	if (!cfg->logger_set)
		return 0;
	if (l->path) {
		ret = log_set_file(l->path, l->show_level, l->show_log_origin, l->level < 0);
		if (ret)
			return err_set_errno(err, ret, "logger: cannot open log_path %s", l->path);
	}
	if (l->level >= 0)
		log_set_level((enum log_level)l->level);
	return 0;
}

static int check_readable(const char *what, const char *path, struct kiln_err *err)
{
	if (access(path, R_OK))
		return err_set_errno(err, -errno, "the %s %s cannot be opened", what, path);
	return 0;
}

static int check_boot_files(const struct kiln_config *cfg, struct kiln_err *err)
{
	int ret;

	if (!cfg->kernel)
		return err_set(err, -EINVAL, "Cannot start microvm without kernel configuration "
			       "(PUT /boot-source first)");
	if ((ret = check_readable("kernel image", cfg->kernel, err)))
		return ret;
	if (cfg->initrd && (ret = check_readable("initrd", cfg->initrd, err)))
		return ret;
	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		if ((ret = check_readable("drive", cfg->disks[i].path, err)))
			return ret;
	return 0;
}

int config_prepare_boot(struct kiln_config *cfg, char **cmdline, struct kiln_err *err)
{
	const struct kiln_disk *root = NULL;
	int ret = check_boot_files(cfg, err);

	*cmdline = NULL;
	if (ret)
		return ret;
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		if (!cfg->disks[i].is_root)
			continue;
		struct kiln_disk disk = cfg->disks[i];

		/* The root drive is the first disk the guest finds: vda. */
		memmove(&cfg->disks[1], &cfg->disks[0], i * sizeof(cfg->disks[0]));
		cfg->disks[0] = disk;
		root = &cfg->disks[0];
		break;
	}
	if (!root)
		return 0;
	if (asprintf(cmdline, "%s%sroot=%s%s %s", cfg->cmdline ? cfg->cmdline : "",
		     cfg->cmdline && *cfg->cmdline ? " " : "",
		     root->partuuid ? "PARTUUID=" : "/dev/vda", root->partuuid ? root->partuuid : "",
		     root->readonly ? "ro" : "rw") < 0) {
		*cmdline = NULL;
		return err_set(err, -ENOMEM, "out of memory");
	}
	cfg->cmdline = *cmdline;
	return 0;
}

int config_file_load(const char *path, struct kiln_config *cfg, struct kiln_err *err)
{
	struct kiln_err why = { 0 };
	struct kiln_config owned;
	json_error_t parse_error;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &parse_error);
	int ret;

	if (!doc) {
		if (parse_error.line > 0)
			return err_set(err, -EINVAL, "config file %s: line %d column %d: %s", path,
				       parse_error.line, parse_error.column, parse_error.text);
		return err_set(err, -EINVAL, "config file %s: %s", path, parse_error.text);
	}
	/* The strings already in cfg belong to argv: copy them so that the
	 * readers may replace any of them. */
	if (config_clone(&owned, cfg)) {
		json_decref(doc);
		return err_set(err, -ENOMEM, "out of memory");
	}
	ret = config_put_document(&owned, doc, &why);
	json_decref(doc);
	if (ret) {
		config_release(&owned);
		return err_set(err, ret, "config file %s: %s", path, why.msg);
	}
	*cfg = owned; /* lives for the process */
	return 0;
}

int config_read_drive_update(json_t *body, const char *path_id, const char **path,
			     struct kiln_err *err)
{
	static const struct field_spec spec[] = {
		{ "drive_id", FIELD_STRING, true },
		{ "path_on_host", FIELD_STRING, false },
		{ "rate_limiter", FIELD_OBJECT, false },
		{ NULL, 0, false },
	};
	int ret = check_fields(body, "drives", spec, err);

	if (ret)
		return ret;
	if (strcmp(field_string(body, "drive_id"), path_id))
		return err_set(err, -EINVAL, "the drive_id in the path (`%.64s`) does not match the "
			       "one in the body (`%.64s`)", path_id, field_string(body, "drive_id"));
	if (field(body, "rate_limiter"))
		return err_set(err, -EINVAL, "drives: `rate_limiter` is not supported by kiln");
	*path = field_string(body, "path_on_host");
	return 0;
}

int config_read_action(json_t *body, const char **action, struct kiln_err *err)
{
	static const struct field_spec spec[] = {
		{ "action_type", FIELD_STRING, true },
		{ NULL, 0, false },
	};
	int ret = check_fields(body, "actions", spec, err);

	if (!ret)
		*action = field_string(body, "action_type");
	return ret;
}

int config_read_vm_state(json_t *body, const char **state, struct kiln_err *err)
{
	static const struct field_spec spec[] = {
		{ "state", FIELD_STRING, true },
		{ NULL, 0, false },
	};
	int ret = check_fields(body, "vm", spec, err);

	if (ret)
		return ret;
	*state = field_string(body, "state");
	if (strcmp(*state, "Paused") && strcmp(*state, "Resumed"))
		return err_set(err, -EINVAL, "vm: state `%.32s` must be `Paused` or `Resumed`",
			       *state);
	return 0;
}

int config_read_snapshot_create(json_t *body, bool *diff, const char **state_path,
				const char **mem_path, struct kiln_err *err)
{
	static const struct field_spec spec[] = {
		{ "snapshot_type", FIELD_STRING, false },
		{ "snapshot_path", FIELD_STRING, true },
		{ "mem_file_path", FIELD_STRING, true },
		{ NULL, 0, false },
	};
	int ret = check_fields(body, "snapshot/create", spec, err);
	const char *type;

	if (ret)
		return ret;
	type = field(body, "snapshot_type") ? field_string(body, "snapshot_type") : "Full";
	if (strcmp(type, "Full") && strcmp(type, "Diff"))
		return err_set(err, -EINVAL, "snapshot/create: snapshot_type `%.32s` must be `Full` "
			       "or `Diff`", type);
	*diff = !strcmp(type, "Diff");
	*state_path = field_string(body, "snapshot_path");
	*mem_path = field_string(body, "mem_file_path");
	return 0;
}

/* mem_backend: {backend_type "File", backend_path}. */
static int read_mem_backend(json_t *backend, const char **mem_path, struct kiln_err *err)
{
	static const struct field_spec spec[] = {
		{ "backend_type", FIELD_STRING, true },
		{ "backend_path", FIELD_STRING, true },
		{ NULL, 0, false },
	};
	int ret = check_fields(backend, "snapshot/load: mem_backend", spec, err);

	if (ret)
		return ret;
	if (strcmp(field_string(backend, "backend_type"), "File"))
		return err_set(err, -EINVAL, "snapshot/load: mem_backend: backend_type `%.32s` is "
			       "not supported (kiln maps a `File`)",
			       field_string(backend, "backend_type"));
	*mem_path = field_string(backend, "backend_path");
	return 0;
}

int config_read_snapshot_load(json_t *body, struct kiln_restore *restore, struct kiln_err *err)
{
	static const struct field_spec spec[] = {
		{ "snapshot_path", FIELD_STRING, true },
		{ "mem_backend", FIELD_OBJECT, false },
		{ "mem_file_path", FIELD_STRING, false },
		{ "enable_diff_snapshots", FIELD_BOOL, false },
		{ "resume_vm", FIELD_BOOL, false },
		{ NULL, 0, false },
	};
	int ret = check_fields(body, "snapshot/load", spec, err);

	if (ret)
		return ret;
	if (!field(body, "mem_backend") == !field(body, "mem_file_path"))
		return err_set(err, -EINVAL, "snapshot/load needs one of `mem_backend` and "
			       "`mem_file_path`");
	*restore = (struct kiln_restore){
		.state_path = field_string(body, "snapshot_path"),
		.mem_path = field(body, "mem_file_path") ? field_string(body, "mem_file_path") : NULL,
		.paused = !field_bool(body, "resume_vm", false),
		.track_dirty = field_bool(body, "enable_diff_snapshots", false),
	};
	return restore->mem_path ? 0 : read_mem_backend(field(body, "mem_backend"),
							&restore->mem_path, err);
}
