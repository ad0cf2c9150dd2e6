// SPDX-License-Identifier: MIT
#include "devices/fw_cfg.h"

#include <errno.h>
#include <stdlib.h>

#include <string.h>

#include "bus/io_bus.h"
#include "util/state_buf.h"

void fw_cfg_init(struct fw_cfg *cfg, uint64_t ram_size, unsigned int nr_cpus)
{
	memset(cfg, 0, sizeof(*cfg));
	pthread_mutex_init(&cfg->lock, NULL);
	cfg->ram_size = ram_size;
	cfg->nr_cpus = (uint16_t)nr_cpus;
}

/* Byte at position pos of the item for key; 0 past the end. */
static uint8_t item_byte(const struct fw_cfg *cfg, uint16_t key, uint32_t pos)
{
	uint64_t value;
	unsigned int len;

	switch (key) {
	case FW_CFG_SIGNATURE:
		return pos < 4 ? (uint8_t)"QEMU"[pos] : 0;
	case FW_CFG_ID:
		value = 1; /* traditional port interface, no DMA */
		len = 4;
		break;
	case FW_CFG_RAM_SIZE:
		value = cfg->ram_size;
		len = 8;
		break;
	case FW_CFG_NB_CPUS:
	case FW_CFG_MAX_CPUS:
		value = cfg->nr_cpus;
		len = 2;
		break;
	case FW_CFG_MAX_RAM:
		value = 0; /* no limit */
		len = 8;
		break;
	default:
		return 0;
	}
	return pos < len ? (uint8_t)(value >> (8 * pos)) : 0;
}

void fw_cfg_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write)
{
	struct fw_cfg *cfg = ctx;

	pthread_mutex_lock(&cfg->lock);
	if (offset == 0 && is_write) {
		cfg->selected = (uint16_t)io_data_get(data, size < 2 ? size : 2);
		cfg->offset = 0;
	} else if (offset == 0) {
		io_data_put(data, size, cfg->selected);
	} else if (!is_write) {
		/* Each data-port byte read advances the item offset. */
		for (unsigned int i = 0; i < size; i++)
			data[i] = item_byte(cfg, cfg->selected, cfg->offset++);
	}
	pthread_mutex_unlock(&cfg->lock);
}

#define FW_CFG_STATE_VERSION 1

/* The selected item and the position in it; the items come from the
 * machine's configuration. Any key and offset is one the guest could set. */
static int fw_cfg_save(struct device *dev, struct device_state *out, struct kiln_err *err)
{
	struct fw_cfg *cfg = dev->priv;
	struct state_writer w = { 0 };

	pthread_mutex_lock(&cfg->lock);
	state_put_u16(&w, cfg->selected);
	state_put_u32(&w, cfg->offset);
	pthread_mutex_unlock(&cfg->lock);
	return device_state_finish(&w, FW_CFG_STATE_VERSION, out, dev->name, err);
}

static int fw_cfg_load(struct device *dev, const struct device_state *in, struct kiln_err *err)
{
	struct fw_cfg *cfg = dev->priv;
	struct state_reader r = state_reader_init(in->data, in->len);
	uint16_t selected;
	uint32_t offset;
	int ret;

	if ((ret = device_state_check_version(in, FW_CFG_STATE_VERSION, dev->name, err)))
		return ret;
	selected = state_get_u16(&r);
	offset = state_get_u32(&r);
	if ((ret = device_state_check_length(&r, dev->name, err)))
		return ret;
	pthread_mutex_lock(&cfg->lock);
	cfg->selected = selected;
	cfg->offset = offset;
	pthread_mutex_unlock(&cfg->lock);
	return 0;
}

static const struct device_ops fw_cfg_ops = { .save = fw_cfg_save, .load = fw_cfg_load };

static int fw_cfg_create(const struct device_env *env, struct kiln_err *err)
{
	struct fw_cfg *cfg = device_list_add_new(env->devices, "fw_cfg", sizeof(*cfg),
						 &fw_cfg_ops, err);

	if (!cfg)
		return err->code;
	fw_cfg_init(cfg, env->cfg->memory_mib << 20, env->cfg->cpus);
	return device_register_io(env->pio, FW_CFG_SELECTOR_PORT, FW_CFG_PORT_LEN, fw_cfg_io, cfg,
				  "fw_cfg", err);
}

const struct device_kind fw_cfg_kind = { "fw_cfg", fw_cfg_create };
