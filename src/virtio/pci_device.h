/* SPDX-License-Identifier: MIT */
/* A virtio-pci function in the board's device list (see devices/device.h). */
#ifndef KILN_VIRTIO_PCI_DEVICE_H
#define KILN_VIRTIO_PCI_DEVICE_H

#include "devices/device.h"
#include "virtio/pci.h"

/*
 * Build a virtio-pci function for model, with MSI routes from env->virtio,
 * plug it into env->pci and add it to env->devices as name. The list owns
 * it from then on; destroy_model(model->device) is called when it goes (or
 * at once, when this fails).
 */
int virtio_pci_device_add(const struct device_env *env, const char *name,
			  const struct virtio_device_model *model,
			  void (*destroy_model)(void *device), struct kiln_err *err);

/* The transport of a device made by virtio_pci_device_add, else NULL. */
struct virtio_pci *virtio_pci_device_transport(struct device *dev);

#endif
