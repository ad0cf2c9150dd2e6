// SPDX-License-Identifier: MIT
#include "devices/pci_host.h"

#include <errno.h>
#include <stdlib.h>

#include "bus/pci.h"
#include "util/state_buf.h"

#define PCI_HOST_STATE_VERSION 1

/* The bridge's function, and the bus whose 0xcf8 latch it saves: that
 * register is the host bridge's on a PC. */
struct pci_host {
	struct pci_device bridge;
	struct pci_bus *bus;
};

static int pci_host_save(struct device *dev, struct device_state *out, struct kiln_err *err)
{
	struct pci_host *host = dev->priv;
	struct state_writer w = { 0 };
	uint8_t config[PCI_CONFIG_SIZE];

	pthread_mutex_lock(&host->bus->lock);
	state_put_u32(&w, host->bus->config_address);
	pci_device_save_config(&host->bridge, config);
	pthread_mutex_unlock(&host->bus->lock);
	state_put_bytes(&w, config, sizeof(config));
	return device_state_finish(&w, PCI_HOST_STATE_VERSION, out, dev->name, err);
}

static int pci_host_load(struct device *dev, const struct device_state *in, struct kiln_err *err)
{
	struct pci_host *host = dev->priv;
	struct state_reader r = state_reader_init(in->data, in->len);
	uint8_t config[PCI_CONFIG_SIZE];
	unsigned int bad_off;
	uint32_t address;
	int ret;

	if ((ret = device_state_check_version(in, PCI_HOST_STATE_VERSION, dev->name, err)))
		return ret;
	address = state_get_u32(&r);
	state_get_bytes(&r, config, sizeof(config));
	if ((ret = device_state_check_length(&r, dev->name, err)))
		return ret;
	pthread_mutex_lock(&host->bus->lock);
	ret = pci_device_load_config(&host->bridge, config, &bad_off);
	if (!ret)
		host->bus->config_address = address; /* any value: the guest's own */
	pthread_mutex_unlock(&host->bus->lock);
	return ret ? device_state_bad_field(dev->name, "config space byte", bad_off, err) : 0;
}

static const struct device_ops pci_host_ops = { .save = pci_host_save, .load = pci_host_load };

static int pci_host_create(const struct device_env *env, struct kiln_err *err)
{
	struct pci_host *host = device_list_add_new(env->devices, "pci-host", sizeof(*host),
						    &pci_host_ops, err);
	int ret;

	if (!host)
		return err->code;
	host->bus = env->pci;
	pci_device_init(&host->bridge, 0x1b36, 0x0008, 0x060000, 0);
	ret = pci_bus_plug(env->pci, &host->bridge);
	return ret < 0 ? err_set_errno(err, ret, "cannot plug the PCI host bridge") : 0;
}

const struct device_kind pci_host_kind = { "pci-host", pci_host_create };
