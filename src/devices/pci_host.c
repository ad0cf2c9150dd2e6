// SPDX-License-Identifier: MIT
#include "devices/pci_host.h"

#include <errno.h>
#include <stdlib.h>

#include "bus/pci.h"

static int pci_host_create(const struct device_env *env, struct kiln_err *err)
{
	struct pci_device *bridge = device_list_add_new(env->devices, "pci-host", sizeof(*bridge),
							&device_no_ops, err);
	int ret;

	if (!bridge)
		return err->code;
	pci_device_init(bridge, 0x1b36, 0x0008, 0x060000, 0);
	ret = pci_bus_plug(env->pci, bridge);
	return ret < 0 ? err_set_errno(err, ret, "cannot plug the PCI host bridge") : 0;
}

const struct device_kind pci_host_kind = { "pci-host", pci_host_create };
