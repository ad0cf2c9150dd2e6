// SPDX-License-Identifier: MIT
#include "devices/device.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/snapshot_file.h"
#include "util/state_buf.h"

/* Append an entry; NULL when the list is full or memory is short. */
static struct device *append(struct device_list *list, const char *name,
			     const struct device_ops *ops, void *priv, int *ret)
{
	struct device *dev, **tail = &list->head;

	*ret = list->count == DEVICE_LIST_MAX ? -ENOSPC : 0;
	dev = *ret ? NULL : calloc(1, sizeof(*dev));
	if (!dev) {
		*ret = *ret ? *ret : -ENOMEM;
		return NULL;
	}
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	dev->ops = ops;
	dev->priv = priv;
	while (*tail)
		tail = &(*tail)->next;
	*tail = dev;
	list->count++;
	return dev;
}

int device_list_add(struct device_list *list, const char *name, const struct device_ops *ops,
		    void *priv)
{
	int ret;

	append(list, name, ops, priv, &ret);
	return ret;
}

const struct device_ops device_no_ops;

void *device_list_add_new(struct device_list *list, const char *name, size_t size,
			  const struct device_ops *ops, struct kiln_err *err)
{
	void *priv = calloc(1, size);
	struct device *dev;
	int ret = -ENOMEM;

	dev = priv ? append(list, name, ops, priv, &ret) : NULL;
	if (!dev) {
		free(priv);
		err_set_errno(err, ret, "cannot add %s", name);
		return NULL;
	}
	dev->owns_priv = true;
	return priv;
}

struct device *device_list_find(const struct device_list *list, const char *name)
{
	for (struct device *dev = list->head; dev; dev = dev->next)
		if (!strcmp(dev->name, name))
			return dev;
	return NULL;
}

/* The list newest first, for teardown and resume. */
static unsigned int reversed(const struct device_list *list, struct device **out,
			     unsigned int max)
{
	unsigned int n = 0;

	for (struct device *dev = list->head; dev && n < max; dev = dev->next)
		out[n++] = dev;
	for (unsigned int i = 0; i < n / 2; i++) {
		struct device *t = out[i];

		out[i] = out[n - 1 - i];
		out[n - 1 - i] = t;
	}
	return n;
}

static void resume_until(struct device_list *list, const struct device *stop)
{
	struct device *order[DEVICE_LIST_MAX];
	unsigned int n = reversed(list, order, DEVICE_LIST_MAX), i = 0;

	/* Skip the ones after stop: they were never paused. */
	if (stop)
		while (i < n && order[i] != stop)
			i++;
	for (i = stop ? i + 1 : 0; i < n; i++)
		if (order[i]->ops->resume)
			order[i]->ops->resume(order[i]);
}

int device_list_start(struct device_list *list, struct kiln_err *err)
{
	for (struct device *dev = list->head; dev; dev = dev->next) {
		int ret = dev->ops->start ? dev->ops->start(dev, err) : 0;

		if (ret)
			return ret;
	}
	return 0;
}

int device_list_pause(struct device_list *list, struct kiln_err *err)
{
	for (struct device *dev = list->head; dev; dev = dev->next) {
		int ret = dev->ops->pause ? dev->ops->pause(dev) : 0;

		if (ret) {
			resume_until(list, dev);
			return err_set_errno(err, ret, "cannot pause %s", dev->name);
		}
	}
	return 0;
}

void device_list_resume(struct device_list *list)
{
	resume_until(list, NULL);
}

void device_list_reset(struct device_list *list)
{
	for (struct device *dev = list->head; dev; dev = dev->next)
		if (dev->ops->reset)
			dev->ops->reset(dev);
}

int device_list_save(struct device_list *list, struct snapshot_writer *w, struct kiln_err *err)
{
	for (struct device *dev = list->head; dev; dev = dev->next) {
		struct device_state state = { 0 };
		int ret;

		if (!dev->ops->save)
			continue;
		ret = dev->ops->save(dev, &state, err);
		if (ret) {
			free(state.data);
			return ret;
		}
		snapshot_writer_add(w, dev->name, state.version, state.data, state.len);
		free(state.data);
	}
	return 0;
}

static bool section_is_known(const struct device_list *list, const char *name,
			     const char *const *other_sections)
{
	for (const struct device *dev = list->head; dev; dev = dev->next)
		if (dev->ops->load && !strcmp(dev->name, name))
			return true;
	for (unsigned int i = 0; other_sections && other_sections[i]; i++)
		if (!strcmp(other_sections[i], name))
			return true;
	return false;
}

/* other_sections: the names the machine reads itself (NULL-terminated);
 * vCPU sections ("vcpu<N>") are the machine's too. */
int device_list_load(struct device_list *list, const struct snapshot_file *file,
		     const char *const *other_sections, struct kiln_err *err)
{
	for (unsigned int i = 0; i < file->nr_sections; i++) {
		const char *name = file->sections[i].name;

		if (strncmp(name, "vcpu", 4) && !section_is_known(list, name, other_sections))
			return err_set(err, -EINVAL, "the snapshot holds state for '%s', a device "
				       "this machine does not have", name);
	}
	for (struct device *dev = list->head; dev; dev = dev->next)
		if (dev->ops->load && !snapshot_file_find(file, dev->name))
			return err_set(err, -EINVAL, "the snapshot has no state for device '%s'",
				       dev->name);
	for (struct device *dev = list->head; dev; dev = dev->next) {
		const struct snapshot_section *s;
		struct device_state state;
		int ret;

		if (!dev->ops->load)
			continue;
		s = snapshot_file_find(file, dev->name);
		state = (struct device_state){ .version = s->version, .data = (void *)s->data,
					       .len = s->len };
		ret = dev->ops->load(dev, &state, err);
		if (ret)
			return ret;
	}
	return 0;
}

int device_state_finish(struct state_writer *w, uint32_t version, struct device_state *out,
			const char *name, struct kiln_err *err)
{
	int ret = state_writer_take(w, &out->data, &out->len);

	out->version = version;
	return ret ? err_set_errno(err, ret, "%s: cannot save its state", name) : 0;
}

int device_state_check_version(const struct device_state *in, uint32_t version,
			       const char *name, struct kiln_err *err)
{
	if (in->version == version)
		return 0;
	return err_set(err, -EINVAL, "%s: snapshot state version %u is not supported "
		       "(this kiln reads version %u)", name, in->version, version);
}

int device_state_check_length(const struct state_reader *r, const char *name,
			      struct kiln_err *err)
{
	if (state_reader_done(r))
		return 0;
	return err_set(err, -EINVAL, "%s: snapshot state of %zu bytes is too %s for its version",
		       name, r->len, r->overrun ? "short" : "long");
}

int device_state_bad_field(const char *name, const char *field, unsigned long long value,
			   struct kiln_err *err)
{
	return err_set(err, -EINVAL, "%s: snapshot state: %s is out of range (0x%llx)", name,
		       field, value);
}

void device_list_destroy(struct device_list *list)
{
	struct device *order[DEVICE_LIST_MAX];
	unsigned int n = reversed(list, order, DEVICE_LIST_MAX);

	for (unsigned int i = 0; i < n; i++) {
		if (order[i]->ops->destroy)
			order[i]->ops->destroy(order[i]);
		if (order[i]->owns_priv)
			free(order[i]->priv);
		free(order[i]);
	}
	list->head = NULL;
	list->count = 0;
}

int device_register_io(struct io_bus *bus, uint64_t base, uint64_t len, io_handler_fn fn,
		       void *ctx, const char *name, struct kiln_err *err)
{
	int ret = io_bus_register(bus, base, len, fn, ctx, name);

	return ret ? err_set_errno(err, ret, "cannot register %s at 0x%llx", name,
				   (unsigned long long)base) : 0;
}
