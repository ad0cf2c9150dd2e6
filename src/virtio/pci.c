// SPDX-License-Identifier: MIT
#include "virtio/pci.h"
#include "devices/device.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define PCI_CAP_VENDOR 0x09
#define PCI_CAP_MSIX   0x11
#define VIRTIO_PCI_CAP_COMMON 1
#define VIRTIO_PCI_CAP_NOTIFY 2
#define VIRTIO_PCI_CAP_ISR    3
#define VIRTIO_PCI_CAP_DEVICE 4
#define MSIX_ENABLE      0x8000
#define MSIX_FUNC_MASK   0x4000
#define MSIX_ENTRY_MASK  1u
#define VIRTIO_NO_VECTOR 0xffff

/* Common configuration structure offsets (virtio 1.2, 4.1.4.3). */
enum {
	CC_DFSELECT = 0x00, CC_DF = 0x04, CC_GFSELECT = 0x08, CC_GF = 0x0c, CC_MSIX = 0x10,
	CC_NUMQ = 0x12, CC_STATUS = 0x14, CC_CFGGEN = 0x15, CC_QSELECT = 0x16, CC_QSIZE = 0x18,
	CC_QMSIX = 0x1a, CC_QENABLE = 0x1c, CC_QNOFF = 0x1e, CC_QDESC = 0x20, CC_QDRIVER = 0x28,
	CC_QDEVICE = 0x30, CC_SIZE = 0x38,
};

uint64_t virtio_pci_offered_features(const struct virtio_pci *vp)
{
	return vp->model.features | (1ULL << VIRTIO_F_VERSION_1) |
	       (1ULL << VIRTIO_F_RING_INDIRECT_DESC) | (1ULL << VIRTIO_F_RING_EVENT_IDX);
}

static bool negotiated(const struct virtio_pci *vp, unsigned int bit)
{
	return vp->driver_features & (1ULL << bit);
}

static bool msix_enabled(const struct virtio_pci *vp)
{
	uint16_t ctrl;

	memcpy(&ctrl, vp->pci.config + vp->msix_cap + 2, 2);
	return (ctrl & MSIX_ENABLE) && !(ctrl & MSIX_FUNC_MASK);
}

/* (Re)bind a queue's irq eventfd to its vector's current MSI message. */
static void route_queue(struct virtio_pci *vp, unsigned int q)
{
	struct vpci_queue *vq = &vp->queues[q];
	const struct msix_entry *e;
	unsigned int route = vp->route_base + q;

	if (!vq->enabled || vq->irq_fd < 0)
		return;
	if (!msix_enabled(vp) || vq->msix_vector > VIRTIO_PCI_MAX_QUEUES ||
	    (vp->msix[vq->msix_vector].ctrl & MSIX_ENTRY_MASK)) {
		vp->host.msi_route(vp->host.ctx, route, 0, 0, -1);
		return;
	}
	e = &vp->msix[vq->msix_vector];
	if (vp->host.msi_route(vp->host.ctx, route, ((uint64_t)e->addr_hi << 32) | e->addr_lo,
			       e->data, vq->irq_fd))
		fprintf(stderr, "kiln: warning: %s: cannot route queue %u's interrupt\n",
			vp->model.name, q);
}

/* The config-change interrupt: its own route, after the queues'. */
static void route_config(struct virtio_pci *vp)
{
	unsigned int route = vp->route_base + vp->model.nr_queues;
	const struct msix_entry *e;

	if (vp->config_irq_fd < 0)
		return;
	if (!msix_enabled(vp) || vp->msix_config > VIRTIO_PCI_MAX_QUEUES ||
	    (vp->msix[vp->msix_config].ctrl & MSIX_ENTRY_MASK)) {
		vp->host.msi_route(vp->host.ctx, route, 0, 0, -1);
		return;
	}
	e = &vp->msix[vp->msix_config];
	if (vp->host.msi_route(vp->host.ctx, route, ((uint64_t)e->addr_hi << 32) | e->addr_lo,
			       e->data, vp->config_irq_fd))
		fprintf(stderr, "kiln: warning: %s: cannot route the config interrupt\n",
			vp->model.name);
}

static void route_all(struct virtio_pci *vp)
{
	for (unsigned int q = 0; q < vp->model.nr_queues; q++)
		route_queue(vp, q);
	route_config(vp);
}

static void stop_queue(struct virtio_pci *vp, unsigned int q)
{
	struct vpci_queue *vq = &vp->queues[q];

	if (vq->enabled) {
		virtq_worker_stop(&vq->worker);
		/* Nothing of the old ring may stay in flight past a reset. */
		if (vp->model.queue_stop)
			vp->model.queue_stop(vp->model.device, q);
		vp->host.msi_route(vp->host.ctx, vp->route_base + q, 0, 0, -1);
	}
	/* Also after a start that failed half-way. */
	if (vq->notify_addr)
		vp->host.ioeventfd(vp->host.ctx, vq->notify_addr, 2, vq->kick_fd, false);
	if (vq->kick_fd >= 0)
		close(vq->kick_fd);
	if (vq->irq_fd >= 0)
		close(vq->irq_fd);
	/* Everything but the worker, whose thread serves the next start. */
	vq->enabled = false;
	vq->restore_pending = false;
	vq->desc = vq->driver = vq->device = 0;
	vq->notify_addr = 0;
	vq->kick_fd = vq->irq_fd = -1;
	vq->size = vp->model.queue_max_size;
	vq->msix_vector = VIRTIO_NO_VECTOR;
}

static void reset_locked(struct virtio_pci *vp)
{
	for (unsigned int q = 0; q < VIRTIO_PCI_MAX_QUEUES; q++)
		stop_queue(vp, q);
	vp->status = 0;
	vp->driver_features = 0;
	vp->device_feature_select = vp->driver_feature_select = 0;
	vp->queue_select = 0;
	vp->msix_config = VIRTIO_NO_VECTOR;
	route_config(vp);
}

void virtio_pci_reset(struct virtio_pci *vp)
{
	pthread_mutex_lock(&vp->lock);
	reset_locked(vp);
	pthread_mutex_unlock(&vp->lock);
}

void virtio_pci_release(struct virtio_pci *vp)
{
	for (unsigned int q = 0; q < VIRTIO_PCI_MAX_QUEUES; q++)
		virtq_worker_destroy(&vp->queues[q].worker);
	if (vp->config_irq_fd >= 0)
		close(vp->config_irq_fd);
	vp->config_irq_fd = -1;
	pthread_mutex_destroy(&vp->lock);
}

void virtio_pci_pause(struct virtio_pci *vp)
{
	pthread_mutex_lock(&vp->lock);
	vp->paused = true;
	for (unsigned int q = 0; q < vp->model.nr_queues; q++)
		if (vp->queues[q].enabled)
			virtq_worker_pause(&vp->queues[q].worker);
	pthread_mutex_unlock(&vp->lock);
}

void virtio_pci_resume(struct virtio_pci *vp)
{
	pthread_mutex_lock(&vp->lock);
	vp->paused = false;
	for (unsigned int q = 0; q < vp->model.nr_queues; q++)
		if (vp->queues[q].enabled)
			virtq_worker_resume(&vp->queues[q].worker);
	pthread_mutex_unlock(&vp->lock);
}

static void config_changed_locked(struct virtio_pci *vp)
{
	vp->config_generation++;
	/* Only a driver that is up hears of it; one still probing reads the
	 * new configuration anyway. */
	if ((vp->status & VIRTIO_STATUS_DRIVER_OK) && vp->msix_config != VIRTIO_NO_VECTOR &&
	    write(vp->config_irq_fd, &(uint64_t){ 1 }, 8) < 0)
		pr_warn("virtio: config interrupt: %s", strerror(errno));
}

void virtio_pci_config_changed(struct virtio_pci *vp)
{
	pthread_mutex_lock(&vp->lock);
	config_changed_locked(vp);
	pthread_mutex_unlock(&vp->lock);
}

int virtio_pci_change_config(struct virtio_pci *vp, int (*change)(void *device, void *arg),
			     void *arg)
{
	bool park;
	int ret;

	/* The lock keeps the driver from starting a queue (or resetting the
	 * device) meanwhile; parked workers keep requests from starting. */
	pthread_mutex_lock(&vp->lock);
	park = !vp->paused;
	for (unsigned int q = 0; park && q < vp->model.nr_queues; q++)
		if (vp->queues[q].enabled)
			virtq_worker_pause(&vp->queues[q].worker);
	ret = change(vp->model.device, arg);
	for (unsigned int q = 0; park && q < vp->model.nr_queues; q++)
		if (vp->queues[q].enabled)
			virtq_worker_resume(&vp->queues[q].worker);
	if (!ret)
		config_changed_locked(vp);
	pthread_mutex_unlock(&vp->lock);
	return ret;
}

/* pos: where a restored queue stood; NULL for the driver's enable. */
static int start_queue(struct virtio_pci *vp, unsigned int q, const struct virtq_position *pos)
{
	struct vpci_queue *vq = &vp->queues[q];
	struct virtq ring;
	struct virtq_worker_poll poll = { .fd = -1 };
	int ret;

	if (!vq->worker.thread_alive)
		return -ENODEV; /* virtio_pci_start has not run: no vCPU should either */
	ret = virtq_init(&ring, vp->mem, vq->size, vq->desc, vq->driver, vq->device,
			 negotiated(vp, VIRTIO_F_RING_EVENT_IDX),
			 negotiated(vp, VIRTIO_F_RING_INDIRECT_DESC));
	if (ret)
		return ret;
	if (pos)
		virtq_set_position(&ring, pos);
	vq->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vq->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vq->kick_fd < 0 || vq->irq_fd < 0)
		return -errno;
	/* The notify address is where the BAR is now. */
	vq->notify_addr = vp->pci.bars[VPCI_BAR].addr + VPCI_NOTIFY_OFF + q * VPCI_NOTIFY_MULT;
	if (vp->host.ioeventfd(vp->host.ctx, vq->notify_addr, 2, vq->kick_fd, true))
		vq->notify_addr = 0; /* notifies then reach us as MMIO: still served */
	if (vp->model.queue_poll && (ret = vp->model.queue_poll(vp->model.device, q, &poll)))
		return ret;
	virtq_worker_attach(&vq->worker, &ring, vq->kick_fd, vq->irq_fd, vp->model.handler,
			    vp->model.device, q, vp->model.queue_poll ? &poll : NULL);
	vq->enabled = true;
	if (vp->paused)
		virtq_worker_pause(&vq->worker);
	route_queue(vp, q);
	return 0;
}

static void write_status(struct virtio_pci *vp, uint8_t status)
{
	uint64_t offered = virtio_pci_offered_features(vp);

	if (status == 0) {
		reset_locked(vp);
		return;
	}
	/* FEATURES_OK only for a subset of what is offered, with VERSION_1. */
	if ((status & VIRTIO_STATUS_FEATURES_OK) && !(vp->status & VIRTIO_STATUS_FEATURES_OK) &&
	    ((vp->driver_features & ~offered) || !negotiated(vp, VIRTIO_F_VERSION_1) ||
	     (vp->model.features_ok && vp->model.features_ok(vp->model.device,
							      vp->driver_features))))
		status &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	vp->status = status;
}

static uint8_t read_status(struct virtio_pci *vp)
{
	for (unsigned int q = 0; q < vp->model.nr_queues; q++)
		if (vp->queues[q].enabled && atomic_load(&vp->queues[q].worker.needs_reset))
			vp->status |= VIRTIO_STATUS_NEEDS_RESET;
	return vp->status;
}

static uint64_t common_read(struct virtio_pci *vp, uint64_t off)
{
	struct vpci_queue *vq = vp->queue_select < vp->model.nr_queues
				? &vp->queues[vp->queue_select] : NULL;
	uint64_t f = virtio_pci_offered_features(vp);

	switch (off) {
	case CC_DFSELECT: return vp->device_feature_select;
	case CC_DF: return vp->device_feature_select < 2 ? (uint32_t)(f >> (32 * vp->device_feature_select)) : 0;
	case CC_GFSELECT: return vp->driver_feature_select;
	case CC_GF: return vp->driver_feature_select < 2
			   ? (uint32_t)(vp->driver_features >> (32 * vp->driver_feature_select)) : 0;
	case CC_MSIX: return vp->msix_config;
	case CC_NUMQ: return vp->model.nr_queues;
	case CC_STATUS: return read_status(vp);
	case CC_CFGGEN: return vp->config_generation;
	case CC_QSELECT: return vp->queue_select;
	case CC_QSIZE: return vq ? vq->size : 0;
	case CC_QMSIX: return vq ? vq->msix_vector : VIRTIO_NO_VECTOR;
	case CC_QENABLE: return vq ? vq->enabled : 0;
	case CC_QNOFF: return vq ? vp->queue_select : 0;
	case CC_QDESC: return vq ? vq->desc : 0;
	case CC_QDRIVER: return vq ? vq->driver : 0;
	case CC_QDEVICE: return vq ? vq->device : 0;
	default: return 0;
	}
}

static void set_half(uint64_t *field, uint64_t off, uint64_t base, uint64_t v, unsigned int size)
{
	if (size == 8)
		*field = v;
	else if (off == base)
		*field = (*field & ~0xffffffffULL) | (uint32_t)v;
	else
		*field = (*field & 0xffffffffULL) | (v << 32);
}

static void queue_write(struct virtio_pci *vp, struct vpci_queue *vq, uint64_t off, uint64_t v,
			unsigned int size)
{
	unsigned int q = (unsigned int)(vq - vp->queues);

	/* A running queue's set-up is fixed until reset. */
	if (vq->enabled && off != CC_QMSIX)
		return;
	if (off == CC_QSIZE) {
		if (v && v <= vp->model.queue_max_size && !(v & (v - 1)))
			vq->size = (uint16_t)v;
	} else if (off == CC_QMSIX) {
		vq->msix_vector = v <= VIRTIO_PCI_MAX_QUEUES ? (uint16_t)v : VIRTIO_NO_VECTOR;
		route_queue(vp, q);
	} else if (off == CC_QENABLE && v == 1) {
		/* A queue runs on negotiated features (virtio-net's header size
		 * and offloads come from FEATURES_OK): before it, the driver broke
		 * the order of spec 3.1.1, and the queue stays off. */
		if (!(vp->status & VIRTIO_STATUS_FEATURES_OK)) {
			vp->status |= VIRTIO_STATUS_NEEDS_RESET;
			return;
		}
		if (start_queue(vp, q, NULL)) {
			stop_queue(vp, q);
			vp->status |= VIRTIO_STATUS_NEEDS_RESET;
		}
	} else if (off >= CC_QDESC && off < CC_QDRIVER) {
		set_half(&vq->desc, off, CC_QDESC, v, size);
	} else if (off >= CC_QDRIVER && off < CC_QDEVICE) {
		set_half(&vq->driver, off, CC_QDRIVER, v, size);
	} else if (off >= CC_QDEVICE && off < CC_SIZE) {
		set_half(&vq->device, off, CC_QDEVICE, v, size);
	}
}

static void common_write(struct virtio_pci *vp, uint64_t off, uint64_t v, unsigned int size)
{
	struct vpci_queue *vq = vp->queue_select < vp->model.nr_queues
				? &vp->queues[vp->queue_select] : NULL;

	switch (off) {
	case CC_DFSELECT: vp->device_feature_select = (uint32_t)v; return;
	case CC_GFSELECT: vp->driver_feature_select = (uint32_t)v; return;
	case CC_GF:
		/* Features are fixed once FEATURES_OK is accepted. */
		if (vp->driver_feature_select < 2 && !(vp->status & VIRTIO_STATUS_FEATURES_OK))
			set_half(&vp->driver_features, vp->driver_feature_select ? 4 : 0, 0, v, 4);
		return;
	case CC_MSIX:
		vp->msix_config = v <= VIRTIO_PCI_MAX_QUEUES ? (uint16_t)v : VIRTIO_NO_VECTOR;
		route_config(vp);
		return;
	case CC_STATUS: write_status(vp, (uint8_t)v); return;
	case CC_QSELECT: vp->queue_select = (uint16_t)v; return;
	default:
		if (vq && off >= CC_QSIZE)
			queue_write(vp, vq, off, v, size);
		return;
	}
}

static void msix_access(struct virtio_pci *vp, uint64_t off, uint8_t *data, unsigned int size,
			bool is_write)
{
	unsigned int entry = (unsigned int)(off / 16), field = (unsigned int)(off % 16);
	uint32_t *words;

	if (entry > VIRTIO_PCI_MAX_QUEUES || size != 4 || field % 4) {
		if (!is_write)
			memset(data, 0xff, size);
		return;
	}
	words = (uint32_t *)&vp->msix[entry];
	if (!is_write) {
		io_data_put(data, 4, words[field / 4]);
		return;
	}
	words[field / 4] = (uint32_t)io_data_get(data, 4);
	vp->msix[entry].ctrl &= MSIX_ENTRY_MASK;
	for (unsigned int q = 0; q < vp->model.nr_queues; q++)
		if (vp->queues[q].msix_vector == entry)
			route_queue(vp, q);
	if (vp->msix_config == entry)
		route_config(vp);
}

static void bar_io_locked(struct virtio_pci *vp, uint64_t off, uint8_t *data, unsigned int size,
			  bool is_write)
{
	if (off < VPCI_COMMON_OFF + CC_SIZE) {
		if (is_write)
			common_write(vp, off, io_data_get(data, size), size);
		else
			io_data_put(data, size, common_read(vp, off));
	} else if (off == VPCI_ISR_OFF && !is_write) {
		io_data_put(data, size, 0); /* queues interrupt through MSI-X only */
	} else if (off >= VPCI_NOTIFY_OFF && off < VPCI_NOTIFY_OFF + VPCI_NOTIFY_MULT * vp->model.nr_queues) {
		/* Reached only when the ioeventfd is missing: kick by hand. A
		 * notify for a queue that is not running is ignored. */
		struct vpci_queue *vq = &vp->queues[(off - VPCI_NOTIFY_OFF) / VPCI_NOTIFY_MULT];

		if (is_write && vq->enabled && write(vq->kick_fd, &(uint64_t){ 1 }, 8) < 0)
			pr_warn("virtio: notify: %s", strerror(errno));
	} else if (off >= VPCI_DEVICE_OFF && off < VPCI_DEVICE_OFF + 0x100 && !is_write &&
		   vp->model.config_read) {
		vp->model.config_read(vp->model.device, off - VPCI_DEVICE_OFF, data, size);
	} else if (!is_write) {
		memset(data, 0, size);
	}
}

static void bar_io(void *ctx, uint64_t off, uint8_t *data, unsigned int size, bool is_write)
{
	struct virtio_pci *vp = ctx;

	pthread_mutex_lock(&vp->lock);
	bar_io_locked(vp, off, data, size, is_write);
	pthread_mutex_unlock(&vp->lock);
}

static void msix_bar_io(void *ctx, uint64_t off, uint8_t *data, unsigned int size,
			bool is_write)
{
	struct virtio_pci *vp = ctx;

	pthread_mutex_lock(&vp->lock);
	/* The table starts the BAR (VPCI_MSIX_OFF is 0); the PBA follows. */
	if (off < VPCI_PBA_OFF)
		msix_access(vp, off, data, size, is_write);
	else if (!is_write)
		memset(data, 0, size); /* PBA: nothing pending */
	pthread_mutex_unlock(&vp->lock);
}

/* Called under the bus lock (config space); takes the device's after it,
 * the one order these two locks are ever taken in. */
static void config_written(struct pci_device *dev, unsigned int off, unsigned int size)
{
	struct virtio_pci *vp = dev->owner;

	if (off < vp->msix_cap + 4u && off + size > vp->msix_cap + 2u) {
		pthread_mutex_lock(&vp->lock);
		route_all(vp); /* MSI-X enable or function mask changed */
		pthread_mutex_unlock(&vp->lock);
	}
}

static void add_virtio_cap(struct pci_device *dev, uint8_t type, uint32_t offset, uint32_t length,
			   bool notify)
{
	uint8_t cap[20] = { 0, 0, notify ? 20 : 16, type, VPCI_BAR };

	memcpy(cap + 8, &offset, 4);
	memcpy(cap + 12, &length, 4);
	if (notify) {
		uint32_t mult = VPCI_NOTIFY_MULT;

		memcpy(cap + 16, &mult, 4);
	}
	pci_device_add_cap(dev, PCI_CAP_VENDOR, cap, notify ? 20 : 16);
}

/* Queues a snapshot had enabled start as the driver's enable would start
 * them, at their saved position; one that cannot (its fds) fails as such
 * an enable does, with NEEDS_RESET for the driver. */
static void restore_queues(struct virtio_pci *vp)
{
	pthread_mutex_lock(&vp->lock);
	for (unsigned int q = 0; q < vp->model.nr_queues; q++) {
		struct vpci_queue *vq = &vp->queues[q];

		if (!vq->restore_pending)
			continue;
		vq->restore_pending = false;
		if (start_queue(vp, q, &vq->restore_at)) {
			stop_queue(vp, q);
			vp->status |= VIRTIO_STATUS_NEEDS_RESET;
		}
	}
	pthread_mutex_unlock(&vp->lock);
}

/* One lasting worker per queue, made before any seccomp filter and any
 * vCPU, and parked until the driver enables its queue: the vCPU threads that
 * enable and reset queues never create threads, and each worker runs under
 * its device kind's list only. */
int virtio_pci_start(struct virtio_pci *vp)
{
	for (unsigned int q = 0; q < vp->model.nr_queues; q++) {
		struct kiln_err err = { 0 };
		char name[16];
		int ret;

		/* The caller names the device and this errno in its one line. */
		snprintf(name, sizeof(name), "vq-%s-%u", vp->model.name, q);
		ret = virtq_worker_init(&vp->queues[q].worker, name, vp->model.worker_sandbox,
					&err);
		if (ret)
			return ret;
	}
	restore_queues(vp);
	return 0;
}

int virtio_pci_init(struct virtio_pci *vp, const struct virtio_device_model *model,
		    const struct guest_memory *mem, const struct virtio_pci_host *host,
		    unsigned int route_base)
{
	uint8_t msix[12] = { 0 };
	uint16_t table_size = VIRTIO_PCI_MAX_QUEUES; /* entries - 1: queues + config */
	uint32_t table = VPCI_MSIX_OFF | VPCI_MSIX_BAR, pba = VPCI_PBA_OFF | VPCI_MSIX_BAR;
	int ret;

	if (model->nr_queues == 0 || model->nr_queues > VIRTIO_PCI_MAX_QUEUES)
		return -EINVAL;
	memset(vp, 0, sizeof(*vp));
	pthread_mutex_init(&vp->lock, NULL);
	vp->config_irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vp->config_irq_fd < 0)
		return -errno;
	vp->mem = mem;
	vp->host = *host;
	vp->model = *model;
	vp->route_base = route_base;
	pci_device_init(&vp->pci, VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_BASE + model->device_id,
			model->class_code, 1);
	vp->pci.owner = vp;
	vp->pci.config_written = config_written;
	vp->pci.config[PCI_SUBSYS_VENDOR] = 0xf4;
	vp->pci.config[PCI_SUBSYS_VENDOR + 1] = 0x1a;
	vp->pci.config[PCI_SUBSYS_ID] = 0x40;
	/* Like QEMU's modern virtio-pci: the structures in a 64-bit BAR, which
	 * goes above RAM, and MSI-X in a 32-bit one. */
	ret = pci_device_add_bar(&vp->pci, VPCI_MSIX_BAR, VPCI_MSIX_BAR_SIZE, false,
				 msix_bar_io, vp);
	if (!ret)
		ret = pci_device_add_bar(&vp->pci, VPCI_BAR, VPCI_BAR_SIZE, true, bar_io, vp);
	if (ret) {
		virtio_pci_release(vp);
		return ret;
	}
	add_virtio_cap(&vp->pci, VIRTIO_PCI_CAP_COMMON, VPCI_COMMON_OFF, CC_SIZE, false);
	add_virtio_cap(&vp->pci, VIRTIO_PCI_CAP_NOTIFY, VPCI_NOTIFY_OFF,
		       VPCI_NOTIFY_MULT * model->nr_queues, true);
	add_virtio_cap(&vp->pci, VIRTIO_PCI_CAP_ISR, VPCI_ISR_OFF, 1, false);
	add_virtio_cap(&vp->pci, VIRTIO_PCI_CAP_DEVICE, VPCI_DEVICE_OFF, 0x100, false);
	memcpy(msix + 2, &table_size, 2);
	memcpy(msix + 4, &table, 4);
	memcpy(msix + 8, &pba, 4);
	vp->msix_cap = pci_device_add_cap(&vp->pci, PCI_CAP_MSIX, msix, sizeof(msix));
	vp->pci.wmask[vp->msix_cap + 3] = (MSIX_ENABLE | MSIX_FUNC_MASK) >> 8;
	for (unsigned int i = 0; i <= VIRTIO_PCI_MAX_QUEUES; i++)
		vp->msix[i].ctrl = MSIX_ENTRY_MASK;
	for (unsigned int q = 0; q < VIRTIO_PCI_MAX_QUEUES; q++)
		vp->queues[q].kick_fd = vp->queues[q].irq_fd = -1;
	virtio_pci_reset(vp);
	return 0;
}

/* ---- snapshots ---- */

#define VIRTIO_STATUS_BITS (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | \
			    VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_FEATURES_OK | \
			    VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)

/* A queue as saved: its registers and, when enabled, where the device is. */
struct saved_queue {
	uint16_t size, msix_vector;
	bool enabled;
	uint64_t desc, driver, device;
	struct virtq_position pos;
};

/* Everything of the transport a snapshot holds, read into one place and
 * checked before any of it is applied. */
struct saved_transport {
	uint8_t config[PCI_CONFIG_SIZE];
	uint64_t offered;
	uint16_t nr_queues, queue_max_size;
	uint32_t device_feature_select, driver_feature_select;
	uint64_t driver_features;
	uint8_t status, config_generation;
	uint16_t queue_select, msix_config;
	struct msix_entry msix[VIRTIO_PCI_MAX_QUEUES + 1];
	struct saved_queue queues[VIRTIO_PCI_MAX_QUEUES];
	bool bad_flag;
};

/* The position to save: back over the chains the device holds, so they
 * are taken again (they stay in the available ring: the driver cannot
 * reuse a slot of a buffer it has not had back). */
static struct virtq_position saved_position(struct virtio_pci *vp, unsigned int q)
{
	struct virtq_position pos;

	unsigned int held = vp->model.queue_held ? vp->model.queue_held(vp->model.device, q) : 0;

	virtq_get_position(&vp->queues[q].worker.vq, &pos);
	pos.last_avail -= (uint16_t)held;
	/* Saved after the snapshot took its dirty logs: the held buffers,
	 * filled after it through views taken before, count for the next. */
	virtq_mark_held_dirty(&vp->queues[q].worker.vq, held);
	return pos;
}

static void save_queue(struct virtio_pci *vp, unsigned int q, struct state_writer *w)
{
	const struct vpci_queue *vq = &vp->queues[q];
	struct virtq_position pos = { 0 };

	if (vq->enabled)
		pos = saved_position(vp, q);
	state_put_u16(w, vq->size);
	state_put_u16(w, vq->msix_vector);
	state_put_u8(w, vq->enabled);
	state_put_u64(w, vq->desc);
	state_put_u64(w, vq->driver);
	state_put_u64(w, vq->device);
	state_put_u16(w, pos.last_avail);
	state_put_u16(w, pos.next_used);
	state_put_u16(w, pos.signalled_used);
	state_put_u8(w, pos.broken);
}

void virtio_pci_save(struct virtio_pci *vp, struct state_writer *w)
{
	struct state_writer model = { 0 };
	void *model_data = NULL;
	size_t model_len = 0;

	pthread_mutex_lock(&vp->lock);
	state_put_bytes(w, vp->pci.config, PCI_CONFIG_SIZE);
	/* What this device is: a restore onto another configuration is refused. */
	state_put_u64(w, virtio_pci_offered_features(vp));
	state_put_u16(w, (uint16_t)vp->model.nr_queues);
	state_put_u16(w, vp->model.queue_max_size);
	state_put_u32(w, vp->device_feature_select);
	state_put_u32(w, vp->driver_feature_select);
	state_put_u64(w, vp->driver_features);
	state_put_u8(w, read_status(vp));
	state_put_u8(w, vp->config_generation);
	state_put_u16(w, vp->queue_select);
	state_put_u16(w, vp->msix_config);
	for (unsigned int i = 0; i <= VIRTIO_PCI_MAX_QUEUES; i++) {
		state_put_u32(w, vp->msix[i].addr_lo);
		state_put_u32(w, vp->msix[i].addr_hi);
		state_put_u32(w, vp->msix[i].data);
		state_put_u32(w, vp->msix[i].ctrl);
	}
	for (unsigned int q = 0; q < vp->model.nr_queues; q++)
		save_queue(vp, q, w);
	if (vp->model.save)
		vp->model.save(vp->model.device, &model);
	pthread_mutex_unlock(&vp->lock);
	if (state_writer_take(&model, &model_data, &model_len)) {
		w->failed = true;
		return;
	}
	state_put_u32(w, (uint32_t)model_len);
	state_put_bytes(w, model_data, model_len);
	free(model_data);
}

static void read_queue(struct state_reader *r, struct saved_queue *sq, bool *bad)
{
	sq->size = state_get_u16(r);
	sq->msix_vector = state_get_u16(r);
	sq->enabled = state_get_bool(r, bad);
	sq->desc = state_get_u64(r);
	sq->driver = state_get_u64(r);
	sq->device = state_get_u64(r);
	sq->pos.last_avail = state_get_u16(r);
	sq->pos.next_used = state_get_u16(r);
	sq->pos.signalled_used = state_get_u16(r);
	sq->pos.broken = state_get_bool(r, bad);
}

/* The transport's part; the model's bytes are left in *model. */
static void read_transport(struct state_reader *r, struct saved_transport *t,
			   unsigned int nr_queues, struct state_reader *model)
{
	uint32_t model_len;

	state_get_bytes(r, t->config, PCI_CONFIG_SIZE);
	t->offered = state_get_u64(r);
	t->nr_queues = state_get_u16(r);
	t->queue_max_size = state_get_u16(r);
	t->device_feature_select = state_get_u32(r);
	t->driver_feature_select = state_get_u32(r);
	t->driver_features = state_get_u64(r);
	t->status = state_get_u8(r);
	t->config_generation = state_get_u8(r);
	t->queue_select = state_get_u16(r);
	t->msix_config = state_get_u16(r);
	for (unsigned int i = 0; i <= VIRTIO_PCI_MAX_QUEUES; i++) {
		t->msix[i].addr_lo = state_get_u32(r);
		t->msix[i].addr_hi = state_get_u32(r);
		t->msix[i].data = state_get_u32(r);
		t->msix[i].ctrl = state_get_u32(r);
	}
	/* This device's count: one that differs is refused after the read. */
	for (unsigned int q = 0; q < nr_queues; q++)
		read_queue(r, &t->queues[q], &t->bad_flag);
	model_len = state_get_u32(r);
	if (r->overrun || model_len > r->len - r->pos) {
		r->overrun = true;
		*model = state_reader_init(NULL, 0);
		return;
	}
	*model = state_reader_init(r->buf + r->pos, model_len);
	r->pos += model_len;
}

static bool vector_ok(uint16_t v)
{
	return v <= VIRTIO_PCI_MAX_QUEUES || v == VIRTIO_NO_VECTOR;
}

static int check_queue(const struct virtio_pci *vp, const struct saved_queue *sq,
		       uint8_t status, unsigned int q, const char *name, struct kiln_err *err)
{
	struct virtq ring;

	/* As the driver's own QUEUE_ENABLE: only on negotiated features. */
	if (sq->enabled && !(status & VIRTIO_STATUS_FEATURES_OK))
		return err_set(err, -EINVAL, "%s: snapshot state: queue %u is enabled before "
			       "FEATURES_OK", name, q);

	if (!sq->size || (sq->size & (sq->size - 1)) || sq->size > vp->model.queue_max_size)
		return err_set(err, -EINVAL, "%s: snapshot state: queue %u's size %u is not a "
			       "power of two up to %u", name, q, sq->size, vp->model.queue_max_size);
	if (!vector_ok(sq->msix_vector))
		return err_set(err, -EINVAL, "%s: snapshot state: queue %u's MSI-X vector %u is "
			       "not in the table", name, q, sq->msix_vector);
	/* The checks the driver's enable gets: areas aligned and in guest RAM. */
	if (sq->enabled && virtq_init(&ring, vp->mem, sq->size, sq->desc, sq->driver, sq->device,
				      false, false))
		return err_set(err, -EINVAL, "%s: snapshot state: queue %u's rings are misaligned "
			       "or outside guest RAM", name, q);
	return 0;
}

static int check_features(struct virtio_pci *vp, const struct saved_transport *t,
			  const char *name, struct kiln_err *err)
{
	uint64_t offered = virtio_pci_offered_features(vp);

	if (t->offered != offered || t->nr_queues != vp->model.nr_queues ||
	    t->queue_max_size != vp->model.queue_max_size)
		return err_set(err, -EINVAL, "%s: the snapshot's device (features 0x%llx, %u "
			       "queues of %u) is not this one (features 0x%llx, %u queues of %u): "
			       "its configuration differs", name,
			       (unsigned long long)t->offered, t->nr_queues, t->queue_max_size,
			       (unsigned long long)offered, vp->model.nr_queues,
			       vp->model.queue_max_size);
	if (t->driver_features & ~offered)
		return device_state_bad_field(name, "driver features", t->driver_features, err);
	if (t->status & ~VIRTIO_STATUS_BITS)
		return device_state_bad_field(name, "device status", t->status, err);
	if (!(t->status & VIRTIO_STATUS_FEATURES_OK))
		return 0;
	/* Accepted features were accepted as the driver's FEATURES_OK is. */
	if (!(t->driver_features & (1ULL << VIRTIO_F_VERSION_1)) ||
	    (vp->model.features_ok && vp->model.features_ok(vp->model.device, t->driver_features)))
		return err_set(err, -EINVAL, "%s: snapshot state: the device refuses driver "
			       "features 0x%llx", name, (unsigned long long)t->driver_features);
	return 0;
}

static int check_transport(struct virtio_pci *vp, const struct saved_transport *t,
			   const char *name, struct kiln_err *err)
{
	int ret = check_features(vp, t, name, err);

	if (ret)
		return ret;
	if (t->bad_flag)
		return device_state_bad_field(name, "a queue flag", 2, err);
	if (!vector_ok(t->msix_config))
		return device_state_bad_field(name, "config MSI-X vector", t->msix_config, err);
	for (unsigned int i = 0; i <= VIRTIO_PCI_MAX_QUEUES; i++)
		if (t->msix[i].ctrl & ~MSIX_ENTRY_MASK)
			return device_state_bad_field(name, "MSI-X vector control", t->msix[i].ctrl,
						      err);
	for (unsigned int q = 0; q < vp->model.nr_queues; q++)
		if ((ret = check_queue(vp, &t->queues[q], t->status, q, name, err)))
			return ret;
	return 0;
}

static void apply_transport(struct virtio_pci *vp, const struct saved_transport *t)
{
	pthread_mutex_lock(&vp->lock);
	vp->device_feature_select = t->device_feature_select;
	vp->driver_feature_select = t->driver_feature_select;
	vp->driver_features = t->driver_features;
	vp->status = t->status;
	vp->config_generation = t->config_generation;
	vp->queue_select = t->queue_select;
	vp->msix_config = t->msix_config;
	memcpy(vp->msix, t->msix, sizeof(vp->msix));
	for (unsigned int q = 0; q < vp->model.nr_queues; q++) {
		struct vpci_queue *vq = &vp->queues[q];
		const struct saved_queue *sq = &t->queues[q];

		vq->size = sq->size;
		vq->msix_vector = sq->msix_vector;
		vq->desc = sq->desc;
		vq->driver = sq->driver;
		vq->device = sq->device;
		vq->restore_pending = sq->enabled;
		vq->restore_at = sq->pos;
	}
	pthread_mutex_unlock(&vp->lock);
}

int virtio_pci_load(struct virtio_pci *vp, struct state_reader *r, const char *name,
		    struct kiln_err *err)
{
	struct saved_transport *t = calloc(1, sizeof(*t));
	struct state_reader model;
	unsigned int bad_off;
	int ret;

	if (!t)
		return err_set(err, -ENOMEM, "%s: out of memory", name);
	read_transport(r, t, vp->model.nr_queues, &model);
	ret = device_state_check_length(r, name, err);
	if (!ret)
		ret = check_transport(vp, t, name, err);
	if (!ret) {
		apply_transport(vp, t);
		/* Config space last, through the guest's write path: BARs where
		 * the guest put them, MSI-X enable and mask, the config route. */
		if (pci_device_load_config(&vp->pci, t->config, &bad_off))
			ret = device_state_bad_field(name, "config space byte", bad_off, err);
	}
	if (!ret && vp->model.load)
		ret = vp->model.load(vp->model.device, &model, name, err);
	else if (!ret && model.len)
		ret = err_set(err, -EINVAL, "%s: snapshot state holds %zu bytes of model state this "
			      "device does not keep", name, model.len);
	free(t);
	return ret;
}
