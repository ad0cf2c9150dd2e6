// SPDX-License-Identifier: MIT
#include "devices/pci_host.h"

#include <errno.h>
#include <stdlib.h>

#include "bus/pci.h"

static void pci_host_free(struct device *dev)
{
	free(dev->priv);
}

static const struct device_ops pci_host_ops = { .destroy = pci_host_free };

static int pci_host_create(const struct device_env *env, struct kiln_err *err)
{
	struct pci_device *bridge = calloc(1, sizeof(*bridge));
	int ret;

	if (!bridge)
		return err_set(err, -ENOMEM, "out of memory for the PCI host bridge");
	pci_device_init(bridge, 0x1b36, 0x0008, 0x060000, 0);
	ret = device_list_add(env->devices, "pci-host", &pci_host_ops, bridge);
	if (ret) {
		free(bridge);
		return err_set_errno(err, ret, "cannot add the PCI host bridge");
	}
	ret = pci_bus_plug(env->pci, bridge);
	return ret < 0 ? err_set_errno(err, ret, "cannot plug the PCI host bridge") : 0;
}

const struct device_kind pci_host_kind = { "pci-host", pci_host_create };
