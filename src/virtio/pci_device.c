// SPDX-License-Identifier: MIT
/*
 * A virtio-pci function as an entry in the board's device list: what every
 * virtio device kind shares (routes, plugging, pause, reset, teardown), so
 * a device model only describes itself.
 */
#include "virtio/pci_device.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

struct virtio_pci_device {
	struct virtio_pci vp;
	char name[16];
	void (*destroy_model)(void *device);
};

static struct virtio_pci *transport(struct device *dev)
{
	return &((struct virtio_pci_device *)dev->priv)->vp;
}

static int vpd_start(struct device *dev, struct kiln_err *err)
{
	struct virtio_pci *vp = transport(dev);
	int ret;

	if (vp->model.start && (ret = vp->model.start(vp->model.device, err)))
		return ret;
	ret = virtio_pci_start(vp);
	if (ret)
		return err_set_errno(err, ret, "%s: cannot start its queue workers",
				     ((struct virtio_pci_device *)dev->priv)->name);
	return 0;
}

static void vpd_reset(struct device *dev)
{
	virtio_pci_reset(transport(dev));
}

static int vpd_pause(struct device *dev)
{
	virtio_pci_pause(transport(dev));
	return 0;
}

static int vpd_resume(struct device *dev)
{
	virtio_pci_resume(transport(dev));
	return 0;
}

static void vpd_destroy(struct device *dev)
{
	struct virtio_pci_device *vpd = dev->priv;

	/* Workers stopped and I/O finished before the model goes away. */
	virtio_pci_reset(&vpd->vp);
	if (vpd->destroy_model)
		vpd->destroy_model(vpd->vp.model.device);
	virtio_pci_release(&vpd->vp);
	free(vpd);
}

/* One layout for every virtio device: the transport, then the model's. */
#define VIRTIO_PCI_STATE_VERSION 1

static int vpd_save(struct device *dev, struct device_state *out, struct kiln_err *err)
{
	struct state_writer w = { 0 };

	virtio_pci_save(transport(dev), &w);
	return device_state_finish(&w, VIRTIO_PCI_STATE_VERSION, out, dev->name, err);
}

static int vpd_load(struct device *dev, const struct device_state *in, struct kiln_err *err)
{
	struct state_reader r = state_reader_init(in->data, in->len);
	int ret = device_state_check_version(in, VIRTIO_PCI_STATE_VERSION, dev->name, err);

	return ret ? ret : virtio_pci_load(transport(dev), &r, dev->name, err);
}

static const struct device_ops virtio_pci_device_ops = {
	.start = vpd_start,
	.reset = vpd_reset,
	.pause = vpd_pause,
	.resume = vpd_resume,
	.save = vpd_save,
	.load = vpd_load,
	.destroy = vpd_destroy,
};

int virtio_pci_device_add(const struct device_env *env, const char *name,
			  const struct virtio_device_model *model,
			  void (*destroy_model)(void *device), struct kiln_err *err)
{
	struct virtio_pci_device *vpd = calloc(1, sizeof(*vpd));
	struct virtio_device_model m = *model;
	const struct virtio_pci_host *host = env->virtio;
	unsigned int routes;
	int ret;

	if (!vpd) {
		if (destroy_model)
			destroy_model(model->device);
		return err_set(err, -ENOMEM, "out of memory for %s", name);
	}
	snprintf(vpd->name, sizeof(vpd->name), "%s", name);
	vpd->destroy_model = destroy_model;
	m.name = vpd->name;
	ret = host->msi_alloc(host->ctx, VIRTIO_PCI_ROUTES(m.nr_queues), &routes);
	if (!ret)
		ret = virtio_pci_init(&vpd->vp, &m, env->mem, host, routes);
	if (ret) {
		if (destroy_model)
			destroy_model(model->device);
		free(vpd);
		return err_set_errno(err, ret, "cannot set up %s", name);
	}
	ret = device_list_add(env->devices, name, &virtio_pci_device_ops, vpd);
	if (ret) {
		vpd_destroy(&(struct device){ .priv = vpd });
		return err_set_errno(err, ret, "cannot add %s", name);
	}
	/* From here the list owns it: a failure to plug is cleaned up with it. */
	ret = pci_bus_plug(env->pci, &vpd->vp.pci);
	return ret < 0 ? err_set_errno(err, ret, "cannot plug %s into PCI bus 0", name) : 0;
}

struct virtio_pci *virtio_pci_device_transport(struct device *dev)
{
	return dev->ops == &virtio_pci_device_ops ? transport(dev) : NULL;
}
