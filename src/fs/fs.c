/*
 * fs.c - fs_main(): parse the command line, open the job manager, mount,
 * daemonize, serve, and shut down.
 *
 * Order matters. Everything that can fail on bad input (options, MEDIA_DIR,
 * its lock, the mountpoint) fails before daemonizing, so the caller sees a
 * one-line message and a non-zero status. Threads (workers, notifier)
 * start after fuse_daemonize, which forks.
 *
 * Shutdown: libfuse 3.14's multithreaded loop can sit in read() on
 * /dev/fuse after fuse_session_exit. SIGTERM/SIGINT/SIGHUP therefore wake
 * a thread of ours that exits the session and unmounts, which makes every
 * loop thread's read fail so the loop returns. Then the core interrupts
 * running jobs and leaves them queued on disk.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_impl.h"
#include "mixfs/fs.h"
#include "mixfs/log.h"

#define MIXFS_VERSION "0.1"

struct fs_opts {
	char *outputs;
	unsigned workers;
	double job_ttl;
	double failed_ttl;
	unsigned max_jobs;
	double cleanup_interval;
	char *database;
	char *host;
	double lease;
	char *media;
	int help;
	int version;
};

#define OPT(t, f) { t, offsetof(struct fs_opts, f), 1 }
static const struct fuse_opt opt_spec[] = {
	OPT("outputs=%s", outputs),
	OPT("workers=%u", workers),
	OPT("job_ttl=%lf", job_ttl),
	OPT("failed_ttl=%lf", failed_ttl),
	OPT("max_jobs_per_session=%u", max_jobs),
	OPT("cleanup_interval=%lf", cleanup_interval),
	OPT("database=%s", database),
	OPT("host=%s", host),
	OPT("lease=%lf", lease),
	OPT("-h", help),
	OPT("--help", help),
	OPT("-V", version),
	OPT("--version", version),
	FUSE_OPT_END
};

static void usage(const char *prog)
{
	printf("usage: %s [-f] [-d] [-o OPTIONS] MEDIA_DIR MOUNTPOINT\n"
	       "       %s render SESSION_DIR REQUEST.json OUT.wav\n"
	       "       %s migrate MEDIA_DIR CONNINFO\n\n"
	       "mixfs options (-o):\n"
	       "    outputs=DIR              where mixes are written (MEDIA_DIR/.mix_outputs)\n"
	       "    workers=N                jobs run at once (1)\n"
	       "    job_ttl=H                hours a complete job lives (48)\n"
	       "    failed_ttl=H             hours a failed job lives (24)\n"
	       "    max_jobs_per_session=N   jobs a session may hold; 0 = no limit (0)\n"
	       "    cleanup_interval=S       also run the cleanup pass every S s (0 = off)\n"
	       "    database=CONNINFO        share one queue with other hosts in PostgreSQL\n"
	       "    host=NAME                this host's name in the cluster (the hostname)\n"
	       "    lease=S                  seconds a silent host keeps its jobs (30)\n\n",
	       prog, prog, prog);
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct fs_opts *o = data;

	(void)outargs;
	if (key == FUSE_OPT_KEY_NONOPT && !o->media) {
		o->media = strdup(arg);
		return 0;
	}
	return 1;
}

static int fail(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "mixfs: ");
	fprintf(stderr, fmt, a, b);
	fprintf(stderr, "\n");
	return 1;
}

/* A mountpoint must be a folder that is not already a mount point. */
static int check_mountpoint(const char *mp)
{
	char parent[PATH_MAX + 4];
	struct stat a, b;

	if (stat(mp, &a) < 0)
		return fail("mountpoint %s: %s", mp, strerror(errno));
	if (!S_ISDIR(a.st_mode))
		return fail("mountpoint %s: %s", mp, "not a folder");
	snprintf(parent, sizeof(parent), "%s/..", mp);
	if (stat(parent, &b) == 0 && a.st_dev != b.st_dev)
		return fail("mountpoint %s is busy: %s", mp, "something is already mounted there");
	return 0;
}

/* The host name, up to its first dot: "render3.studio.lan" is "render3". */
static int default_host(char **out)
{
	char name[256] = "";

	if (gethostname(name, sizeof(name) - 1) < 0)
		return -errno;
	name[strcspn(name, ".")] = '\0';
	return (*out = strdup(name)) ? 0 : -ENOMEM;
}

static int check_opts(const struct fs_opts *o, const char *mp)
{
	if (!o->media || !mp)
		return fail("%s%s", "need MEDIA_DIR and MOUNTPOINT (see mixfs -h)", "");
	if (!(o->job_ttl > 0) || !(o->failed_ttl > 0))
		return fail("%s%s", "job_ttl and failed_ttl must be positive hours", "");
	if (o->workers > CORE_WORKERS_MAX)
		return fail("workers must be 0..%s%s", "64", "");
	if (o->cleanup_interval < 0)
		return fail("%s%s", "cleanup_interval must be 0 or more seconds", "");
	if (!(o->lease >= 1) || o->lease > 86400)
		return fail("%s%s", "lease must be 1 to 86400 seconds", "");
	if ((o->host || o->lease != 30) && !o->database)
		return fail("%s%s", "host= and lease= need database=", "");
	if (o->database && !o->database[0])
		return fail("%s%s", "database= needs a connection string", "");
	if (o->database && !job_host_valid(o->host))
		return fail("host name %s: %s", o->host,
			    "1-63 characters of A-Z a-z 0-9 . _ -, not starting with a dot");
	return check_mountpoint(mp);
}

/* ---- signals ---- */

/*
 * SIGTERM, SIGINT and SIGHUP are blocked in every thread (the mask is set
 * before any is made, and inherited) and taken by one thread with
 * sigwait(), which ends the session and unmounts: no handler, no state
 * shared with one. SIGUSR1 is our own wake-up at exit.
 */
static void signals_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
}

/* The signal thread's state, on serve()'s stack. */
struct sig_thread {
	pthread_t th;
	struct fuse_session *se;
	atomic_bool stopping;	/* set before our own SIGUSR1 */
};

static void *sig_main(void *arg)
{
	struct sig_thread *t = arg;
	sigset_t set;
	int sig = 0;

	signals_set(&set);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig != SIGUSR1)
			break;
		if (atomic_load(&t->stopping))
			return NULL; /* our own wake-up at exit; anyone else's is ignored */
	}
	log_info("signal %d: unmounting", sig);
	fuse_session_exit(t->se);
	fuse_session_unmount(t->se);
	return NULL;
}

static int signals_block(void)
{
	sigset_t set;

	signals_set(&set);
	signal(SIGPIPE, SIG_IGN);
	return -pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* The signals stay blocked: a second SIGTERM during shutdown must not kill
 * the process before it has put running jobs back in the queue. */
static void signals_stop(struct sig_thread *t)
{
	atomic_store(&t->stopping, true);
	pthread_kill(t->th, SIGUSR1);
	pthread_join(t->th, NULL);
}

/* ---- main ---- */

static int loop(struct fuse_session *se, const struct fuse_cmdline_opts *co)
{
	struct fuse_loop_config *lc = fuse_loop_cfg_create();
	int rc;

	if (!lc)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(lc, co->clone_fd);
	fuse_loop_cfg_set_max_threads(lc, co->max_threads);
	if (co->max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(lc, co->max_idle_threads);
	rc = co->singlethread ? fuse_session_loop(se) : fuse_session_loop_mt(se, lc);
	fuse_loop_cfg_destroy(lc);
	return rc;
}

/* Run the mounted tree until it is unmounted or signalled. */
static int serve(struct mixfs_fs *fs, const struct fuse_cmdline_opts *co)
{
	struct sig_thread sig = { .se = fs->se };
	int rc;

	atomic_init(&sig.stopping, false);
	if ((rc = signals_block()) || (rc = events_init(fs))) {
		log_error("cannot start threads: %s", strerror(-rc));
		return 1;
	}
	core_set_listener(fs->core, events_listener, fs);
	if ((rc = core_start(fs->core)) || (rc = -pthread_create(&sig.th, NULL, sig_main, &sig))) {
		log_error("cannot start threads: %s", strerror(-rc));
		core_stop(fs->core);
		events_stop(fs);
		events_release(fs);
		return 1;
	}
	rc = loop(fs->se, co);
	signals_stop(&sig);
	core_stop(fs->core); /* running jobs requeued; their last events queued */
	events_stop(fs);
	events_release(fs);
	return rc < 0 && rc != -EINTR && rc != -ENODEV ? 1 : 0;
}

/* The tree's own state, once the core is open. 0 or -errno, nothing held. */
static int tree_init(struct mixfs_fs *fs)
{
	int rc;

	if ((rc = nodes_init(&fs->nodes)))
		return rc;
	if ((rc = drop_box_init(&fs->drops))) {
		nodes_release(&fs->nodes);
		return rc;
	}
	if ((rc = handles_init(&fs->handles))) {
		drop_box_release(&fs->drops);
		nodes_release(&fs->nodes);
	}
	return rc;
}

static void tree_release(struct mixfs_fs *fs)
{
	handles_release(&fs->handles);
	drop_box_release(&fs->drops);
	nodes_release(&fs->nodes);
}

/* Open the core, mount, serve until unmounted, and undo it all. Returns
 * the exit status. */
static int run(struct mixfs_fs *fs, struct fuse_session *se, const struct fuse_cmdline_opts *co,
	       const struct core_config *cfg)
{
	char err[512];
	int status = 1;

	if (core_open(&fs->core, cfg, util_now_ms(), err, sizeof(err)))
		return fail("%s%s", err, "");
	if (tree_init(fs)) {
		core_close(fs->core);
		return fail("out of memory%s%s", "", "");
	}
	if (fuse_session_mount(se, co->mountpoint) != 0) {
		fail("cannot mount on %s%s", co->mountpoint, "");
	} else {
		fs->se = se;
		if (fuse_daemonize(co->foreground) == 0) {
			if (!co->foreground)
				log_use_syslog();
			log_info("mounted %s on %s (outputs %s, %u worker%s)", cfg->media_dir,
				 co->mountpoint, cfg->outputs_dir, cfg->workers,
				 cfg->workers == 1 ? "" : "s");
			status = serve(fs, co);
		}
		fuse_session_unmount(se);
		if (status == 0)
			log_info("unmounted %s", co->mountpoint);
	}
	tree_release(fs);
	core_close(fs->core);
	fs->core = NULL;
	return status;
}

int fs_main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fs_opts o = { .workers = 1, .job_ttl = 48, .failed_ttl = 24, .lease = 30 };
	struct fuse_cmdline_opts co = { 0 };
	struct core_config cfg;
	char outputs[2 * PATH_MAX + 2], media[PATH_MAX], cwd[PATH_MAX];
	struct mixfs_fs fs = { 0 };
	struct fuse_session *se;
	int status = 1;

	if (fuse_opt_parse(&args, &o, opt_spec, opt_proc) < 0)
		return 1;
	if (o.database && !o.host && default_host(&o.host))
		return fail("%s%s", "cannot read this machine's host name", "");
	if (o.help || o.version) {
		if (o.help)
			usage(argv[0]);
		else
			printf("mixfs %s\n", MIXFS_VERSION);
		fuse_opt_free_args(&args);
		return 0;
	}
	/* an explicit default: libfuse 3.14 warns about its own otherwise */
	if (fuse_opt_insert_arg(&args, 1, "-omax_threads=64") != 0 ||
	    fuse_parse_cmdline(&args, &co) != 0 || check_opts(&o, co.mountpoint))
		goto out;
	if (!realpath(o.media, media)) {
		fail("MEDIA_DIR %s: %s", o.media, strerror(errno));
		goto out;
	}
	/* absolute: the daemon leaves its working folder when it detaches */
	if (!o.outputs)
		snprintf(outputs, sizeof(outputs), "%s/.mix_outputs", media);
	else if (o.outputs[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		snprintf(outputs, sizeof(outputs), "%s", o.outputs);
	else
		snprintf(outputs, sizeof(outputs), "%s/%s", cwd, o.outputs);
	cfg = (struct core_config){
		.media_dir = media, .outputs_dir = outputs,
		.ttls = { (util_ms)(o.job_ttl * UTIL_MS_PER_HOUR),
			  (util_ms)(o.failed_ttl * UTIL_MS_PER_HOUR) },
		.max_jobs_per_session = o.max_jobs, .workers = o.workers,
		.cleanup_interval_s = o.cleanup_interval,
		.database = o.database, .host = o.host, .lease_s = o.lease,
	};
	if (co.debug)
		log_set_level(LOG_LVL_DEBUG);
	/* a bad -o option fails here, before MEDIA_DIR is touched */
	se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), &fs);
	if (se) {
		status = run(&fs, se, &co, &cfg);
		fuse_session_destroy(se);
	}
out:
	free(co.mountpoint);
	free(o.media);
	free(o.outputs);
	free(o.database);
	free(o.host);
	fuse_opt_free_args(&args);
	return status;
}
