/* SPDX-License-Identifier: MIT */
/* The PCI host bridge in slot 0 of bus 0 (QEMU's generic 1b36:0008). */
#ifndef KILN_DEVICES_PCI_HOST_H
#define KILN_DEVICES_PCI_HOST_H

#include "devices/device.h"

/* The board's entry; plug it before any other PCI function. */
extern const struct device_kind pci_host_kind;

#endif
