/*
 * store_impl.h - what store.c and load.c share: folders beneath MEDIA_DIR
 * or the outputs folder, opened with no symlink at any level.
 */
#ifndef MIXFS_STORE_IMPL_H
#define MIXFS_STORE_IMPL_H

#include <dirent.h>

#include "mixfs/store.h"

/* The folder @rel beneath @root ("" for the root itself): an fd the caller
 * closes, or -errno (-ELOOP / -EXDEV when a symlink is in the way). */
int store_dir_open(const struct store *s, enum store_root root, const char *rel);

/* The folder @rel beneath @root as a directory stream (closedir() it), or
 * NULL with *@rc the negative errno. */
DIR *store_dir_stream(const struct store *s, enum store_root root, const char *rel, int *rc);

#endif
