// SPDX-License-Identifier: MIT
#include "x86/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm/saved_state.h"
#include "x86/pc.h"
#include "x86/snapshot_config.h"

#define SECTION_VERSION 1
/* A state file is sections of at most SNAPSHOT_MAX_SECTION_LEN; this
 * bounds what is read before the checksum is checked. */
#define STATE_FILE_MAX (256ULL << 20)

/* kiln's own machine state beyond KVM's and the devices'. */
struct board_state {
	uint32_t nr_vcpus;
	uint8_t asleep;           /* ACPI S3 */
	uint8_t pad[3];
	uint64_t ram_size;
};

static const char *const board_sections[] = { "config", "board", "vm", NULL };

/* Write the whole buffer to fd; 0 or -errno. */
static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t done = write(fd, p, len);

		if (done < 0 && errno == EINTR)
			continue;
		if (done <= 0)
			return done < 0 ? -errno : -EIO;
		p += done;
		len -= (size_t)done;
	}
	return 0;
}

/* path's temporary sibling, renamed over path once complete. */
static int temp_path(char *out, size_t size, const char *path)
{
	int n = snprintf(out, size, "%s.kiln-tmp-%d", path, (int)getpid());

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int open_temp(const char *path, char *tmp, size_t size, const char *what,
		     struct kiln_err *err)
{
	int fd, ret = temp_path(tmp, size, path);

	if (ret)
		return err_set(err, ret, "%s path is too long: %s", what, path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set_errno(err, -errno, "cannot create %s %s", what, tmp);
	return fd;
}

/* Close fd and rename tmp over path, or remove tmp when ret is an error. */
static int finish_temp(int fd, const char *tmp, const char *path, int ret, const char *what,
		       struct kiln_err *err)
{
	if (close(fd) < 0 && !ret)
		ret = err_set_errno(err, -errno, "cannot write %s %s", what, path);
	if (!ret && rename(tmp, path) < 0)
		ret = err_set_errno(err, -errno, "cannot move %s into place at %s", what, path);
	if (ret)
		unlink(tmp);
	return ret;
}

static int save_memory_full(struct pc *pc, const char *mem_path, struct kiln_err *err)
{
	char tmp[4096];
	uint64_t *scratch;
	int fd, ret = 0;

	/* A full image is the new base: what was dirty before is in it. */
	if (pc->vm.track_dirty) {
		scratch = malloc(guest_mem_bitmap_words(&pc->vm.mem) * sizeof(uint64_t));
		if (!scratch)
			return err_set(err, -ENOMEM, "out of memory");
		ret = vm_take_dirty_pages(&pc->vm, scratch, err);
		/* Until this snapshot is written whole, no Diff may build on it. */
		pc->has_snapshot_base = false;
		free(scratch);
		if (ret)
			return ret;
	}
	fd = open_temp(mem_path, tmp, sizeof(tmp), "the memory file", err);
	if (fd < 0)
		return fd;
	ret = guest_mem_save(&pc->vm.mem, fd);
	if (ret)
		err_set_errno(err, ret, "cannot write the memory file %s", mem_path);
	return finish_temp(fd, tmp, mem_path, ret, "the memory file", err);
}

static int check_diff_target(struct pc *pc, int fd, const char *mem_path, struct kiln_err *err)
{
	const struct guest_memory *mem = &pc->vm.mem;
	struct stat st;

	if (fstat(fd, &st) < 0)
		return err_set_errno(err, -errno, "cannot read the memory file %s", mem_path);
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != mem->ram_size)
		return err_set(err, -EINVAL, "the memory file %s is not a RAM image of %llu bytes "
			       "(a Diff goes into a copy of the last Full snapshot's)", mem_path,
			       (unsigned long long)mem->ram_size);
	if (mem->backing_ino && st.st_dev == mem->backing_dev && st.st_ino == mem->backing_ino)
		return err_set(err, -EBUSY, "%s is the file this machine's RAM is mapped from: "
			       "write the Diff into a copy of it", mem_path);
	return 0;
}

static int save_memory_diff(struct pc *pc, const char *mem_path, struct kiln_err *err)
{
	size_t words = guest_mem_bitmap_words(&pc->vm.mem);
	uint64_t *dirty;
	int fd, ret;

	if (!pc->vm.track_dirty)
		return err_set(err, -EINVAL, "a Diff snapshot needs dirty page tracking "
			       "(track_dirty_pages in machine-config, or enable_diff_snapshots)");
	if (!pc->has_snapshot_base)
		return err_set(err, -EINVAL, "a Diff snapshot needs a Full snapshot (or a restore) "
			       "first: it holds only the pages written since");
	/* Into an existing image (a copy of the last Full one), checked before
	 * the logs are taken: a refusal here costs nothing. */
	fd = open(mem_path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, -errno, "cannot open the memory file %s (a Diff goes "
				     "into a copy of the last Full snapshot's)", mem_path);
	ret = check_diff_target(pc, fd, mem_path, err);
	if (ret) {
		close(fd);
		return ret;
	}
	dirty = calloc(words, sizeof(uint64_t));
	ret = dirty ? vm_take_dirty_pages(&pc->vm, dirty, err) : err_set(err, -ENOMEM, "out of memory");
	if (dirty)
		pc->has_snapshot_base = false;   /* the logs are taken (or half) */
	if (!ret) {
		ret = guest_mem_save_dirty(&pc->vm.mem, fd, dirty);
		if (ret == -EBUSY)
			err_set(err, ret, "%s is the file this machine's RAM is mapped from: write "
				"the Diff into a copy of it", mem_path);
		else if (ret)
			err_set_errno(err, ret, "cannot write the memory file %s", mem_path);
	}
	free(dirty);
	close(fd);
	return ret;
}

static int add_vcpu_sections(struct pc *pc, struct snapshot_writer *w, struct kiln_err *err)
{
	struct vcpu_saved_state *state = malloc(sizeof(*state));
	int ret = state ? 0 : err_set(err, -ENOMEM, "out of memory");

	for (unsigned int i = 0; !ret && i < pc->vm.nr_vcpus; i++) {
		char name[SNAPSHOT_NAME_MAX + 1];

		ret = vcpu_save_state(&pc->vm.vcpus[i], pc->msr_indices, pc->nr_msrs, state, err);
		snprintf(name, sizeof(name), "vcpu%u", i);
		if (!ret)
			snapshot_writer_add(w, name, SECTION_VERSION, state, sizeof(*state));
	}
	free(state);
	return ret;
}

/* Every section of the state file, into w. */
static int collect_state(struct pc *pc, struct snapshot_writer *w, struct kiln_err *err)
{
	struct board_state board = {
		.nr_vcpus = pc->vm.nr_vcpus, .asleep = vm_asleep(&pc->vm),
		.ram_size = pc->vm.mem.ram_size,
	};
	struct vm_saved_state vm_state;
	int ret;

	snapshot_writer_add(w, "config", SECTION_VERSION, pc->snapshot_config,
			    strlen(pc->snapshot_config));
	snapshot_writer_add(w, "board", SECTION_VERSION, &board, sizeof(board));
	ret = vm_save_state(&pc->vm, &vm_state, err);
	/* The clock as the pause stopped it: KVM's own kept running while
	 * paused, and a clone must not see that time pass (resume hides it). */
	if (!ret && pc->vm.has_adjust_clock)
		vm_state.clock.clock = pc->vm.paused_clock.clock;
	if (!ret)
		snapshot_writer_add(w, "vm", SECTION_VERSION, &vm_state, sizeof(vm_state));
	if (!ret)
		ret = add_vcpu_sections(pc, w, err);
	if (!ret)
		ret = device_list_save(&pc->devices, w, err);
	return ret;
}

static int save_state_file(struct pc *pc, const char *state_path, struct kiln_err *err)
{
	struct snapshot_writer w;
	char tmp[4096];
	uint8_t *buf = NULL;
	size_t len = 0;
	int fd, ret;

	snapshot_writer_init(&w);
	ret = collect_state(pc, &w, err);
	if (ret) {
		snapshot_writer_discard(&w);
		return ret;
	}
	ret = snapshot_writer_finish(&w, &buf, &len, err);
	if (ret)
		return ret;
	fd = open_temp(state_path, tmp, sizeof(tmp), "the snapshot file", err);
	if (fd < 0) {
		free(buf);
		return fd;
	}
	ret = write_all(fd, buf, len);
	if (ret)
		err_set_errno(err, ret, "cannot write the snapshot file %s", state_path);
	free(buf);
	return finish_temp(fd, tmp, state_path, ret, "the snapshot file", err);
}

int pc_snapshot_create(struct pc *pc, enum pc_snapshot_type type, const char *state_path,
		       const char *mem_path, struct kiln_err *err)
{
	int ret;

	/* Held throughout: nothing resumes the machine while it is read. */
	pthread_mutex_lock(&pc->lifecycle_lock);
	if (!pc->paused)
		ret = err_set(err, -EBUSY, "a snapshot needs a paused machine (PATCH /vm "
			      "{\"state\": \"Paused\"} first)");
	else if (type == PC_SNAPSHOT_DIFF)
		ret = save_memory_diff(pc, mem_path, err);
	else
		ret = save_memory_full(pc, mem_path, err);
	if (!ret)
		ret = save_state_file(pc, state_path, err);
	/* Taking the dirty logs ended the chain (save_memory_*); a snapshot
	 * written whole starts it again. A refusal before the logs were taken
	 * leaves it as it was. */
	if (!ret)
		pc->has_snapshot_base = true;
	pthread_mutex_unlock(&pc->lifecycle_lock);
	return ret;
}

static int read_state_file(const char *path, uint8_t **buf, size_t *len, struct kiln_err *err)
{
	struct stat st;
	ssize_t got;
	size_t done = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return err_set_errno(err, -errno, "cannot open the snapshot file %s", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > STATE_FILE_MAX) {
		close(fd);
		return err_set(err, -EINVAL, "the snapshot file %s is not a regular file of at "
			       "most %llu MiB", path, STATE_FILE_MAX >> 20);
	}
	*len = (size_t)st.st_size;
	*buf = malloc(*len ? *len : 1);
	while (*buf && done < *len && (got = read(fd, *buf + done, *len - done)) > 0)
		done += (size_t)got;
	close(fd);
	if (!*buf || done != *len) {
		free(*buf);
		*buf = NULL;
		return err_set(err, -EIO, "cannot read the snapshot file %s", path);
	}
	return 0;
}

/* A section that must be there with exactly len bytes of version 1. */
static const struct snapshot_section *fixed_section(const struct pc_snapshot *snap,
						    const char *name, size_t len,
						    struct kiln_err *err)
{
	const struct snapshot_section *s = snapshot_file_find(&snap->file, name);

	if (!s)
		err_set(err, -EINVAL, "the snapshot has no '%s' section", name);
	else if (s->version != SECTION_VERSION || s->len != len)
		err_set(err, -EINVAL, "the snapshot's '%s' section is of another layout "
			"(version %u, %u bytes; this kiln reads version %u, %zu bytes)", name,
			s->version, s->len, SECTION_VERSION, len);
	else
		return s;
	return NULL;
}

/* The sections the configuration calls for, each of the right size. */
static int check_sections(const struct pc_snapshot *snap, struct kiln_err *err)
{
	const struct snapshot_section *s;
	struct board_state board;
	char name[SNAPSHOT_NAME_MAX + 1];

	s = fixed_section(snap, "board", sizeof(board), err);
	if (!s || !fixed_section(snap, "vm", sizeof(struct vm_saved_state), err))
		return -EINVAL;
	memcpy(&board, s->data, sizeof(board));
	if (board.nr_vcpus != snap->cfg.cpus || board.ram_size != snap->cfg.memory_mib << 20)
		return err_set(err, -EINVAL, "the snapshot's configuration (%u vCPUs, %llu MiB) "
			       "does not match its machine state (%u vCPUs, %llu bytes)",
			       snap->cfg.cpus, (unsigned long long)snap->cfg.memory_mib,
			       board.nr_vcpus, (unsigned long long)board.ram_size);
	for (unsigned int i = 0; i < snap->cfg.cpus; i++) {
		snprintf(name, sizeof(name), "vcpu%u", i);
		if (!fixed_section(snap, name, sizeof(struct vcpu_saved_state), err))
			return -EINVAL;
	}
	snprintf(name, sizeof(name), "vcpu%u", snap->cfg.cpus);
	if (snapshot_file_find(&snap->file, name))
		return err_set(err, -EINVAL, "the snapshot holds more vCPUs than its "
			       "configuration's %u", snap->cfg.cpus);
	return 0;
}

int pc_snapshot_open(const char *state_path, struct pc_snapshot **out, struct kiln_err *err)
{
	struct pc_snapshot *snap = calloc(1, sizeof(*snap));
	const struct snapshot_section *config;
	int ret;

	*out = NULL;
	if (!snap)
		return err_set(err, -ENOMEM, "out of memory");
	ret = read_state_file(state_path, &snap->buf, &snap->len, err);
	if (!ret)
		ret = snapshot_file_parse(snap->buf, snap->len, state_path, &snap->file, err);
	if (!ret) {
		config = snapshot_file_find(&snap->file, "config");
		if (!config || config->version != SECTION_VERSION)
			ret = err_set(err, -EINVAL, "the snapshot %s has no machine configuration "
				      "this kiln reads", state_path);
	}
	if (!ret)
		ret = snapshot_config_decode((const char *)config->data, config->len, &snap->cfg,
					     &snap->cfg_holder, err);
	if (!ret)
		ret = check_sections(snap, err);
	if (ret) {
		pc_snapshot_close(snap);
		return ret;
	}
	*out = snap;
	return 0;
}

void pc_snapshot_close(struct pc_snapshot *snap)
{
	if (!snap)
		return;
	snapshot_config_release(snap->cfg_holder);
	free(snap->buf);
	free(snap);
}

static int open_memory_file(const char *mem_path, uint64_t ram_size, struct kiln_err *err)
{
	struct stat st;
	int fd = open(mem_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return err_set_errno(err, -errno, "cannot open the memory file %s", mem_path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != ram_size) {
		close(fd);
		return err_set(err, -EINVAL, "the memory file %s has %llu bytes; the snapshot's "
			       "RAM is %llu bytes", mem_path, (unsigned long long)st.st_size,
			       (unsigned long long)ram_size);
	}
	return fd;
}

static int load_vcpus(struct pc *pc, const struct pc_snapshot *snap, struct kiln_err *err)
{
	struct vcpu_saved_state *state = malloc(sizeof(*state));
	int ret = state ? 0 : err_set(err, -ENOMEM, "out of memory");

	for (unsigned int i = 0; !ret && i < pc->vm.nr_vcpus; i++) {
		char name[SNAPSHOT_NAME_MAX + 1];

		snprintf(name, sizeof(name), "vcpu%u", i);
		/* Copied out: the section's bytes need not be aligned. */
		memcpy(state, snapshot_file_find(&snap->file, name)->data, sizeof(*state));
		ret = vcpu_restore_state(&pc->vm.vcpus[i], state, err);
	}
	free(state);
	return ret;
}

static int load_state(struct pc *pc, const struct pc_snapshot *snap, struct kiln_err *err)
{
	struct vm_saved_state vm_state;
	struct board_state board;
	int ret;

	memcpy(&board, snapshot_file_find(&snap->file, "board")->data, sizeof(board));
	memcpy(&vm_state, snapshot_file_find(&snap->file, "vm")->data, sizeof(vm_state));
	ret = device_list_load(&pc->devices, &snap->file, board_sections, err);
	if (!ret)
		ret = load_vcpus(pc, snap, err);
	/* The VM's clock last: it goes on from the saved value when the
	 * vCPUs first run. */
	if (!ret)
		ret = vm_restore_state(&pc->vm, &vm_state, err);
	if (!ret && board.asleep)
		vm_sleep(&pc->vm);
	return ret;
}

int pc_restore(struct pc *pc, const struct pc_snapshot *snap, const struct kiln_config *cfg,
	       const char *mem_path, int console_fd, struct kiln_err *err)
{
	int mem_fd, ret;

	pc_init(pc);
	mem_fd = open_memory_file(mem_path, cfg->memory_mib << 20, err);
	if (mem_fd < 0)
		return mem_fd;
	ret = pc_create_restored(pc, cfg, console_fd, mem_fd, err);
	/* The mapping holds the file from here. */
	close(mem_fd);
	if (!ret)
		ret = load_state(pc, snap, err);
	if (!ret)
		pc->has_snapshot_base = true;
	return ret;
}
