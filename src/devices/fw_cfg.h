/* SPDX-License-Identifier: MIT */
/*
 * QEMU's firmware configuration interface, port form only: a 16-bit key
 * written to the selector port, then little-endian bytes read one at a time
 * from the data port. Test kernels read the keys below; unknown keys and
 * reads past an item's end return zeros.
 */
#ifndef KILN_DEVICES_FW_CFG_H
#define KILN_DEVICES_FW_CFG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "devices/device.h"

#define FW_CFG_SELECTOR_PORT 0x510
#define FW_CFG_DATA_PORT     0x511
#define FW_CFG_PORT_LEN      2

#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID        0x01
#define FW_CFG_RAM_SIZE  0x03
#define FW_CFG_NB_CPUS   0x05
#define FW_CFG_MAX_CPUS  0x0f
#define FW_CFG_MAX_RAM   0x11

struct fw_cfg {
	pthread_mutex_t lock;       /* vCPUs may read concurrently */
	uint64_t ram_size;
	uint16_t nr_cpus;
	uint16_t selected;
	uint32_t offset;
};

void fw_cfg_init(struct fw_cfg *cfg, uint64_t ram_size, unsigned int nr_cpus);
void fw_cfg_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write);

/* The board's entry: QEMU's fw_cfg at 0x510. */
extern const struct device_kind fw_cfg_kind;

#endif
