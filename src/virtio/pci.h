/* SPDX-License-Identifier: MIT */
/*
 * The virtio-pci modern transport (virtio 1.2, 4.1): common, notify, ISR and
 * device-config structures in BAR 4, MSI-X table and PBA behind them.
 * Queue notify addresses become ioeventfds, queue interrupts irqfds on the
 * queue's MSI-X vector, through the functions in struct virtio_pci_host:
 * the transport never issues KVM ioctls itself, and the same code runs in
 * the host harness with plain eventfds.
 */
#ifndef KILN_VIRTIO_PCI_H
#define KILN_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "bus/pci.h"
#include "util/state_buf.h"
#include "virtio/worker.h"

#define VIRTIO_PCI_VENDOR       0x1af4
#define VIRTIO_PCI_DEVICE_BASE  0x1040   /* + virtio device ID */
/* virtio-net's 8 queue pairs and its control queue. */
#define VIRTIO_PCI_MAX_QUEUES   17

#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX     29
#define VIRTIO_F_VERSION_1          32

#define VIRTIO_STATUS_ACKNOWLEDGE  1
#define VIRTIO_STATUS_DRIVER       2
#define VIRTIO_STATUS_DRIVER_OK    4
#define VIRTIO_STATUS_FEATURES_OK  8
#define VIRTIO_STATUS_NEEDS_RESET  0x40
#define VIRTIO_STATUS_FAILED       0x80

/* BAR 4 (64-bit, in the 64-bit window): the virtio structures. */
#define VPCI_BAR         4
#define VPCI_COMMON_OFF  0x0000
#define VPCI_ISR_OFF     0x1000
#define VPCI_DEVICE_OFF  0x2000
#define VPCI_NOTIFY_OFF  0x3000
#define VPCI_BAR_SIZE    0x4000
#define VPCI_NOTIFY_MULT 4
/* BAR 1 (32-bit, below 4 GiB): the MSI-X table and pending-bit array. */
#define VPCI_MSIX_BAR      1
#define VPCI_MSIX_OFF      0x000
#define VPCI_PBA_OFF       0x800
#define VPCI_MSIX_BAR_SIZE 0x1000

/* What the machine provides: notifications without KVM in the transport. */
struct virtio_pci_host {
	int (*ioeventfd)(void *ctx, uint64_t addr, unsigned int len, int fd, bool add);
	/* Route (addr, data) as MSI route number route and bind fd; fd -1 unbinds. */
	int (*msi_route)(void *ctx, unsigned int route, uint64_t addr, uint32_t data, int fd);
	/* A block of count MSI routes for one device: 0 or -ENOSPC. */
	int (*msi_alloc)(void *ctx, unsigned int count, unsigned int *first);
	void *ctx;
};

/* What a device model provides. */
struct virtio_device_model {
	const char *name;          /* "rng0": worker threads are vq-rng0-N */
	uint16_t device_id;        /* virtio device ID */
	uint32_t class_code;
	uint64_t features;         /* device-specific feature bits */
	unsigned int nr_queues;
	uint16_t queue_max_size;
	virtq_handler_fn handler;
	void *device;
	/* The seccomp list of its queues' workers (none: unfiltered). */
	enum sandbox_thread worker_sandbox;
	/* Optional: device configuration space reads, and an extra fd per
	 * queue for the worker to poll (block I/O completions). */
	void (*config_read)(void *device, uint64_t off, uint8_t *data, unsigned int size);
	int (*queue_poll)(void *device, unsigned int queue, struct virtq_worker_poll *poll);
	/* Optional: called once the queue's worker has stopped (device reset
	 * or teardown), on the caller's thread: complete or cancel everything
	 * the device still has in flight for the queue before returning, so a
	 * reset device touches no guest memory and keeps no request busy. */
	void (*queue_stop)(void *device, unsigned int queue);
	/* Optional: the driver asks for FEATURES_OK with these features (a
	 * subset of the offer, with VERSION_1); nonzero refuses them (the
	 * status then lacks FEATURES_OK). Runs under the transport's lock on
	 * the vCPU thread. */
	int (*features_ok)(void *device, uint64_t driver_features);
	/* Optional: start the device's own threads (a backend's) or listen on
	 * its sockets, from the device's start hook (kiln is in its jail by
	 * then), before its queue workers. */
	int (*start)(void *device, struct kiln_err *err);
	/* Optional, for snapshots (machine paused): how many chains of queue
	 * the device holds (popped, not yet used: receive buffers waiting for
	 * data), always the last ones it popped. The saved ring position goes
	 * back over them, so the restored device takes them again. */
	unsigned int (*queue_held)(void *device, unsigned int queue);
	/* Optional: the model's own guest-visible state, after the
	 * transport's. load gets exactly the bytes save wrote (r), runs after
	 * the transport's state is in place, and checks every field before it
	 * changes anything (0, or -EINVAL with err naming name and field). */
	void (*save)(void *device, struct state_writer *w);
	int (*load)(void *device, struct state_reader *r, const char *name,
		    struct kiln_err *err);
};

struct vpci_queue {
	uint16_t size, msix_vector;
	bool enabled;
	uint64_t desc, driver, device;
	int kick_fd, irq_fd;
	uint64_t notify_addr;      /* where the ioeventfd sits, 0 when none */
	/* Loaded from a snapshot enabled: started at this position by
	 * virtio_pci_start (the workers do not exist before). */
	bool restore_pending;
	struct virtq_position restore_at;
	struct virtq_worker worker;
};

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct virtio_pci {
	struct pci_device pci;
	/* The transport's registers: vCPUs reach them concurrently, outside
	 * the bus lock (a reset joins threads and waits for I/O under it). */
	pthread_mutex_t lock;
	const struct guest_memory *mem;
	struct virtio_pci_host host;
	struct virtio_device_model model;
	unsigned int route_base;   /* MSI routes: queues from route_base, then config */
	int config_irq_fd;         /* the config-change interrupt's eventfd */
	bool paused;
	unsigned int msix_cap;     /* config offset of the MSI-X capability */
	uint32_t device_feature_select, driver_feature_select;
	uint64_t driver_features;
	uint8_t status, config_generation;
	uint16_t queue_select, msix_config;
	struct vpci_queue queues[VIRTIO_PCI_MAX_QUEUES];
	struct msix_entry msix[VIRTIO_PCI_MAX_QUEUES + 1];
};

/* MSI routes a device with nr_queues queues needs: one per queue and one
 * for configuration changes. */
#define VIRTIO_PCI_ROUTES(nr_queues) ((nr_queues) + 1)

/* Build the PCI function for model, its interrupts on MSI routes
 * route_base .. + VIRTIO_PCI_ROUTES(nr_queues); plug it with
 * pci_bus_plug(&vp->pci). */
int virtio_pci_init(struct virtio_pci *vp, const struct virtio_device_model *model,
		    const struct guest_memory *mem, const struct virtio_pci_host *host,
		    unsigned int route_base);
/* Start one lasting worker thread per queue (each installs its seccomp
 * filter): after virtio_pci_init and before the driver can enable a queue.
 * 0 or -errno. */
int virtio_pci_start(struct virtio_pci *vp);

/* Snapshot state of the transport and the model (machine paused), and
 * back on a device built from the same configuration and not started:
 * everything is checked first (-EINVAL, err naming name and the field);
 * queues the driver had enabled start where they stood when
 * virtio_pci_start runs, as if the driver had enabled them. */
void virtio_pci_save(struct virtio_pci *vp, struct state_writer *w);
int virtio_pci_load(struct virtio_pci *vp, struct state_reader *r, const char *name,
		    struct kiln_err *err);

/* Stop every worker and release the queues (device reset, or shutdown). */
void virtio_pci_reset(struct virtio_pci *vp);
/* Release what init made (after a reset). */
void virtio_pci_release(struct virtio_pci *vp);

/* Park every queue's worker with nothing in flight / let them go on. The
 * queues keep their state: pause is not a reset. */
void virtio_pci_pause(struct virtio_pci *vp);
void virtio_pci_resume(struct virtio_pci *vp);

/* The device's configuration changed (e.g. a disk's capacity): bump the
 * generation and interrupt on the driver's config vector. */
void virtio_pci_config_changed(struct virtio_pci *vp);

/* Run change(device, arg) with every queue's worker parked (nothing in
 * flight) and the registers locked, so neither the device's workers nor
 * the driver act meanwhile; when it returns 0, announce a config change. */
int virtio_pci_change_config(struct virtio_pci *vp, int (*change)(void *device, void *arg),
			     void *arg);

/* Features the device offers: the model's plus the transport's. */
uint64_t virtio_pci_offered_features(const struct virtio_pci *vp);

#endif
