/*
 * minifs.c - the floor for reading a small live file through FUSE: a
 * low-level filesystem with one file, "state", holding "mixing\n".
 *   minifs MOUNTPOINT            direct_io, like mixfs's synthetic files
 *   minifs MOUNTPOINT cached     kernel page cache kept (stale-able)
 * Built and run only by the benchmarks.
 */
#define FUSE_USE_VERSION 314
#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char text[] = "mixing\n";
static int cached;

static void st_of(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = ino == 1 ? S_IFDIR | 0755 : S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = ino == 1 ? 0 : (off_t)strlen(text);
}

static void mini_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e = { .ino = 2, .attr_timeout = 1, .entry_timeout = 1 };

	if (parent != 1 || strcmp(name, "state")) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	st_of(2, &e.attr);
	fuse_reply_entry(req, &e);
}

static void mini_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	st_of(ino, &st);
	fuse_reply_attr(req, &st, 1);
}

static void mini_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fi->direct_io = !cached;
	fi->keep_cache = cached;
	fuse_reply_open(req, fi);
}

static void mini_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	size_t len = strlen(text);

	(void)ino, (void)fi;
	if ((size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, text + off, len - (size_t)off < size ? len - (size_t)off : size);
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = mini_lookup, .getattr = mini_getattr, .open = mini_open, .read = mini_read,
};

int main(int argc, char **argv)
{
	char *fargv[] = { argv[0], NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, fargv);
	struct fuse_session *se;
	struct fuse_loop_config *lc;

	if (argc < 2)
		return 2;
	cached = argc > 2 && strcmp(argv[2], "cached") == 0;
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se || fuse_session_mount(se, argv[1]))
		return 1;
	lc = fuse_loop_cfg_create();
	fuse_loop_cfg_set_max_threads(lc, 16);
	fuse_session_loop_mt(se, lc);
	fuse_session_unmount(se);
	fuse_session_destroy(se);
	return 0;
}
