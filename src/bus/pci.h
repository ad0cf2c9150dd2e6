/* SPDX-License-Identifier: MIT */
/*
 * PCI bus 0: configuration space through mechanism #1 (ports 0xcf8/0xcfc)
 * and ECAM, BARs in a 32-bit MMIO window below 4 GiB and a 64-bit one above
 * RAM, capability lists. kiln plays firmware and assigns BAR addresses
 * (64-bit BARs go to the 64-bit window when there is one); the guest may
 * move them, so MMIO in either window is dispatched by each BAR's current
 * address.
 */
#ifndef KILN_BUS_PCI_H
#define KILN_BUS_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/io_bus.h"

#define PCI_MAX_DEVICES 32
#define PCI_CONFIG_SIZE 256
#define PCI_NUM_BARS    6

/* Configuration-space offsets and bits used by kiln. */
#define PCI_VENDOR_ID    0x00
#define PCI_DEVICE_ID    0x02
#define PCI_COMMAND      0x04
#define PCI_STATUS       0x06
#define PCI_REVISION     0x08
#define PCI_CLASS_PROG   0x09
#define PCI_HEADER_TYPE  0x0e
#define PCI_BAR0         0x10
#define PCI_SUBSYS_VENDOR 0x2c
#define PCI_SUBSYS_ID    0x2e
#define PCI_CAP_PTR      0x34
#define PCI_INT_PIN      0x3d
#define PCI_COMMAND_MEMORY 0x2
#define PCI_STATUS_CAP_LIST 0x10

struct pci_bar {
	uint64_t addr;          /* current base (0: not placed) */
	uint64_t size;          /* power of two, at least 16 */
	bool is64;
	io_handler_fn handler;  /* offset is relative to the BAR */
	void *ctx;
};

struct pci_device {
	uint8_t config[PCI_CONFIG_SIZE];
	uint8_t wmask[PCI_CONFIG_SIZE];   /* bits the guest may write */
	struct pci_bar bars[PCI_NUM_BARS];
	uint8_t next_cap;                  /* where the next capability goes */
	/* Called after the guest wrote config bytes [off, off + size). */
	void (*config_written)(struct pci_device *dev, unsigned int off, unsigned int size);
	void *owner;
};

/* An MMIO window the bus decodes, and its BAR allocator. */
struct pci_window {
	uint64_t base, end;
	uint64_t next;
};

struct pci_bus {
	pthread_mutex_t lock;
	struct pci_device *devices[PCI_MAX_DEVICES];
	uint32_t config_address;           /* the 0xcf8 register */
	struct pci_window mmio32, mmio64;
};

/* Windows are [base, end); an empty mmio64 (end == base) puts 64-bit BARs
 * in the 32-bit window. */
void pci_bus_init(struct pci_bus *bus, uint64_t mmio32_base, uint64_t mmio32_end,
		  uint64_t mmio64_base, uint64_t mmio64_end);

/* A type-0 header with the given IDs; capabilities start at 0x40. */
void pci_device_init(struct pci_device *dev, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision);
/* Add a memory BAR (32- or 64-bit); kiln assigns its address on plug. */
int pci_device_add_bar(struct pci_device *dev, unsigned int index, uint64_t size, bool is64,
		       io_handler_fn handler, void *ctx);
/* Append a capability of len bytes (id, next are filled in); returns its
 * offset in config space, or 0 when it does not fit. */
unsigned int pci_device_add_cap(struct pci_device *dev, uint8_t id, const void *body,
				unsigned int len);

/* Plug dev into the first free slot; returns the slot or a negative errno. */
int pci_bus_plug(struct pci_bus *bus, struct pci_device *dev);

/* Snapshots. Load brings dev's config space to config as the guest's own
 * writes would (BARs moved, config_written told of the whole space): only
 * bits the guest may write can differ from dev's; -EINVAL otherwise, with
 * *bad_off the first offset that differs (a BAR not aligned to its size,
 * another device's IDs, ...). */
void pci_device_save_config(const struct pci_device *dev, uint8_t config[PCI_CONFIG_SIZE]);
int pci_device_load_config(struct pci_device *dev, const uint8_t config[PCI_CONFIG_SIZE],
			   unsigned int *bad_off);

/* Bus handlers: ports 0xcf8-0xcff, the ECAM window, the two MMIO windows
 * (offsets relative to each window's base). */
void pci_config_port_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size,
			bool is_write);
void pci_ecam_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write);
void pci_mmio32_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write);
void pci_mmio64_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write);

/* Config space access for one function (used by the handlers and tests). */
void pci_config_access(struct pci_bus *bus, unsigned int slot, unsigned int off,
		       uint8_t *data, unsigned int size, bool is_write);

#endif
