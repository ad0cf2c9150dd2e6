/* SPDX-License-Identifier: MIT */
/*
 * The one device interface. Every device the board creates, platform or
 * virtio, is an entry in the board's device list with an ops table; the
 * board walks the list to pause, resume, reset and tear the machine down
 * (and, later, to save and load it). A device kind is created by one
 * function that gets the machine's resources in a struct device_env, so
 * adding a device is its file plus one line in the board's table.
 *
 * Pause is not reset: a paused device keeps every piece of state the guest
 * can see (queue indices, MSI-X tables, registers) and resumes where it
 * stopped.
 */
#ifndef KILN_DEVICES_DEVICE_H
#define KILN_DEVICES_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/io_bus.h"
#include "config.h"
#include "devices/machine.h"
#include "util/error.h"

struct device;
struct guest_memory;
struct pci_bus;
struct virtio_pci_host;

/* A device's saved state: a snapshot section of the device's name. save
 * fills data (malloc'd; the caller frees it) and version; load gets a
 * section read from a file and must check every byte of it. */
struct device_state {
	uint32_t version;
	void *data;
	size_t len;
};

struct device_ops {
	/* Start the device's own threads, once the machine is built and kiln is
	 * confined (--jail needs a process with one thread): before it, a
	 * device only holds its files and state. NULL: no threads. */
	int (*start)(struct device *dev, struct kiln_err *err);
	/* Back to the power-on state, as the guest's reset would leave it. */
	void (*reset)(struct device *dev);
	/* Stop touching guest memory and queues at a clean boundary, with
	 * requests in flight completed; resume goes on from there. */
	int (*pause)(struct device *dev);
	int (*resume)(struct device *dev);
	/* Snapshot state, on a paused machine (save) or one built but not
	 * started (load); NULL where a device has none. 0, or a negative
	 * errno with err naming the device and the cause. */
	int (*save)(struct device *dev, struct device_state *out, struct kiln_err *err);
	int (*load)(struct device *dev, const struct device_state *in, struct kiln_err *err);
	/* Release everything; the machine's vCPUs are stopped by then. */
	void (*destroy)(struct device *dev);
};

struct device {
	char name[16];           /* "com1", "blk0": unique on the board */
	const struct device_ops *ops;
	void *priv;              /* the device model's own struct */
	bool owns_priv;          /* freed with the entry (device_list_add_new) */
	struct device *next;
};

#define DEVICE_LIST_MAX 64

struct device_list {
	struct device *head;     /* in creation order */
	unsigned int count;
};

/* What a device kind's create function may use to build itself. */
struct device_env {
	const struct kiln_config *cfg;
	const struct machine_ops *machine;
	struct io_bus *pio, *mmio;
	struct pci_bus *pci;
	const struct guest_memory *mem;
	const struct virtio_pci_host *virtio;   /* notifications for virtio-pci */
	int console_fd;          /* COM1's output; -1: dropped */
	struct device_list *devices;
};

/* A kind of device: creates zero or more devices from env->cfg. */
struct device_kind {
	const char *name;
	int (*create)(const struct device_env *env, struct kiln_err *err);
};

/* Append a device; 0, -ENOSPC or -ENOMEM. On failure the caller still owns priv. */
int device_list_add(struct device_list *list, const char *name, const struct device_ops *ops,
		    void *priv);
struct device *device_list_find(const struct device_list *list, const char *name);
/* Append a device whose struct (size bytes, zeroed) the list allocates and
 * frees after ops->destroy; NULL with err set on failure. */
void *device_list_add_new(struct device_list *list, const char *name, size_t size,
			  const struct device_ops *ops, struct kiln_err *err);
/* For devices with nothing to do beyond being freed. */
extern const struct device_ops device_no_ops;

/* Pause in creation order; on a failure, resume those already paused and
 * return the error. Resume goes in reverse order. */
int device_list_pause(struct device_list *list, struct kiln_err *err);
/* Start every device's threads, in creation order; the first error stops. */
int device_list_start(struct device_list *list, struct kiln_err *err);
void device_list_resume(struct device_list *list);
void device_list_reset(struct device_list *list);
/* Snapshot: each device with a save hook writes a section named after it
 * (a paused machine). Load gives each device with a load hook its section
 * (a built machine not yet started): a missing section, or one naming no
 * device of this board, is refused before any device is loaded. */
struct snapshot_writer;
struct snapshot_file;
int device_list_save(struct device_list *list, struct snapshot_writer *w, struct kiln_err *err);
int device_list_load(struct device_list *list, const struct snapshot_file *file,
		     const char *const *other_sections, struct kiln_err *err);
/* Helpers for the save and load hooks (fields through util/state_buf.h).
 * Finish a save: out gets w's buffer and version; -ENOMEM with err naming
 * the device when a put failed. */
struct state_writer;
struct state_reader;
int device_state_finish(struct state_writer *w, uint32_t version, struct device_state *out,
			const char *name, struct kiln_err *err);
/* Loads: a section of another layout version is refused (-EINVAL, one line
 * naming the device and both versions) before anything is read; after
 * reading every field, one that was short or had bytes left is refused. */
int device_state_check_version(const struct device_state *in, uint32_t version,
			       const char *name, struct kiln_err *err);
int device_state_check_length(const struct state_reader *r, const char *name,
			      struct kiln_err *err);
/* -EINVAL with "NAME: snapshot state: FIELD is out of range (VALUE)". */
int device_state_bad_field(const char *name, const char *field, unsigned long long value,
			   struct kiln_err *err);

/* Destroy every device, newest first, and empty the list. */
void device_list_destroy(struct device_list *list);

/* Register a port or MMIO range for a device, with a message on failure. */
int device_register_io(struct io_bus *bus, uint64_t base, uint64_t len, io_handler_fn fn,
		       void *ctx, const char *name, struct kiln_err *err);

#endif
