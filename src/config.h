/* SPDX-License-Identifier: MIT */
/* One validated configuration, produced by the command line parser and
 * consumed by everything that builds and runs the VM. */
#ifndef KILN_CONFIG_H
#define KILN_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

enum kiln_command { KILN_CMD_NONE, KILN_CMD_RUN, KILN_CMD_INFO, KILN_CMD_HELP, KILN_CMD_VERSION };

enum console_mode { CONSOLE_SERIAL, CONSOLE_NONE, CONSOLE_VIRTIO };

/* Documented exit statuses (README, kiln --help). */
enum kiln_exit_status {
	KILN_EXIT_OK = 0,        /* guest powered off or rebooted */
	KILN_EXIT_ERROR = 1,     /* kiln could not run the guest, or the guest crashed */
	KILN_EXIT_USAGE = 2,     /* bad command line */
	/* guest debug-exit writes give (code << 1) | 1; a signal N gives 128 + N */
};

#ifndef KILN_VERSION
#define KILN_VERSION "0.1.0"
#endif

#define KILN_DEFAULT_MEMORY_MIB 256
#define KILN_DEFAULT_CPUS       1
#define KILN_MAX_CPUS           64

#define KILN_MAX_DISKS 8

/* Guest console output kiln writes to a regular file stops there (--console-limit). */
#define KILN_DEFAULT_CONSOLE_LIMIT (64ULL << 20)

struct kiln_disk {
	const char *id;           /* the API's drive_id; NULL from --disk */
	const char *path;
	bool readonly;
	unsigned int queues;
	const char *serial;
	int direct;               /* enum block_direct: auto, on, off */
	unsigned int poll_us;     /* workers' longest busy-poll; 0: never */
	bool is_root;             /* becomes vda and root= on the command line */
	const char *partuuid;     /* root=PARTUUID=... instead of /dev/vda */
	bool cache_writeback;     /* Firecracker's cache_type "Writeback" (else "Unsafe") */
	bool io_engine_async;     /* Firecracker's io_engine "Async"; kiln always uses io_uring */
};

/* Networking (--net, PUT /network-interfaces): backends/net_backend.h. */
#define KILN_MAX_NETS        4
#define NET_MAX_QUEUE_PAIRS  8
#define NET_MAX_HOSTFWD      16

/* --net user,hostfwd=tcp:HOSTADDR:HOSTPORT-GUESTADDR:GUESTPORT (backends/net_user.c
 * reads them; the command line parser fills them) */
struct net_hostfwd {
	bool udp;
	uint32_t host_addr;       /* network order; 0: the default, 127.0.0.1 */
	uint16_t host_port;
	uint32_t guest_addr;      /* network order; 0: the address DHCP hands the guest */
	uint16_t guest_port;
};

struct net_user_config {
	struct net_hostfwd fwd[NET_MAX_HOSTFWD];
	unsigned int nr_fwd;
};

struct net_tap_config {
	char name[16];            /* IFNAMSIZ */
};

struct net_config {
	enum { NET_TAP, NET_USER } kind;
	char id[64];              /* the API's iface_id; "netN" from --net */
	uint8_t mac[6];
	bool mac_set;             /* else a random locally administered one */
	unsigned int queues;      /* queue pairs, 1 to NET_MAX_QUEUE_PAIRS */
	struct net_tap_config tap;
	struct net_user_config user;
};

#define KILN_DEFAULT_INSTANCE_ID "anonymous-instance"
/* Firecracker's boot_args when none are given, with the serial console. */
#define KILN_DEFAULT_BOOT_ARGS "console=ttyS0 reboot=k panic=1"

/* --vsock cid=N,socket=PATH or PUT /vsock: virtio-vsock with its host side
 * on Unix sockets at PATH (host -> guest) and PATH_<port> (guest -> host). */
struct kiln_vsock {
	bool enabled;
	uint64_t guest_cid;       /* 3 <= cid < 0xffffffff */
	const char *uds_path;
};

enum kiln_huge_pages { HUGE_PAGES_NONE, HUGE_PAGES_TRANSPARENT, HUGE_PAGES_2M };

/* PUT /logger or a config file's "logger": where kiln's log lines go. */
struct kiln_logger {
	const char *path;         /* NULL: stderr */
	int level;                /* enum log_level */
	bool level_set;           /* "level" was given */
	bool show_level, show_log_origin;
	const char *module;       /* accepted and reported; kiln has one module */
};

/* --restore SNAPSHOT,mem=FILE or PUT /snapshot/load: the machine comes
 * from a snapshot (x86/snapshot.h) instead of a kernel. */
struct kiln_restore {
	const char *state_path;   /* NULL: no restore */
	const char *mem_path;
	bool paused;              /* --paused, resume_vm false: stays paused */
	bool track_dirty;         /* enable_diff_snapshots */
};

struct kiln_config {
	enum kiln_command command;
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	unsigned int cpus;
	uint64_t memory_mib;
	enum console_mode console;
	bool debug_exit;
	bool test_devices;        /* --test-devices: QEMU's pc-testdev */
	bool trace_mmio;
	uint64_t console_limit;   /* bytes of console output a file may take; 0: no limit */
	bool rng;                 /* virtio-rng-pci */
	bool virtio_console;      /* virtio-console-pci (hvc0) */
	const char *virtio_console_path;  /* its output; NULL: the terminal */
	struct kiln_disk disks[KILN_MAX_DISKS];
	unsigned int nr_disks;
	struct net_config nets[KILN_MAX_NETS];
	unsigned int nr_nets;
	struct kiln_vsock vsock;
	bool verbose;
	bool stats;               /* print counters (completed instructions) at exit */
	int cpu_template;         /* enum cpu_template (x86/cpu_profile.h) */
	const char *cpu_config;   /* CPU_TEMPLATE_CUSTOM: Firecracker's CpuConfig JSON text */
	const char *cpu_features; /* --cpu "host[,+f|-f]..."; NULL when not given */
	bool no_pvm_profile;
	unsigned int hyperv;      /* --hyperv: enum hyperv_feature mask (x86/hyperv.h); 0: off */
	const char *kvm_device;   /* NULL: $KILN_KVM_DEVICE or /dev/kvm */
	/* The management API and Firecracker's configuration (api/) */
	const char *api_sock;     /* --api-sock: serve the API there */
	const char *config_file;  /* --config-file: Firecracker's JSON */
	const char *instance_id;  /* --id: GET / reports it */
	bool track_dirty_pages;   /* KVM dirty logging for Diff snapshots */
	struct kiln_restore restore;
	bool cpus_set, memory_set; /* --cpus, --memory given (checked against a snapshot) */
	int huge_pages;           /* enum kiln_huge_pages; only NONE is built */
	struct kiln_logger logger;
	bool logger_set;
	const char *metrics_path; /* PUT /metrics: one JSON line per flush */
	/* --jail (jail.c): kiln confines itself to jail_dir as jail_uid:jail_gid */
	const char *jail_dir;     /* NULL: no jail */
	uint32_t jail_uid, jail_gid;
	const char *jail_netns;   /* --jail-netns: join it instead of an empty one */
	bool jail_uid_set, jail_gid_set;
	/* Set with --net user: the jail keeps the host's network namespace,
	 * where libslirp's sockets reach what the guest is given. */
	bool jail_keep_network;
	/* --as-limit: RLIMIT_AS in MiB; 0: guest RAM + JAIL_AS_OVERHEAD_MIB */
	uint64_t jail_as_limit_mib;
	bool jail_no_as_limit;    /* --as-limit none */
	int seccomp;              /* enum sandbox_mode: --seccomp kill|log, --no-seccomp */
};

#endif
