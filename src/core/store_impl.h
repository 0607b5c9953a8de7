/*
 * store_impl.h - what store.c and load.c share: folders beneath MEDIA_DIR
 * or the outputs folder, opened with no symlink at any level.
 */
#ifndef MIXFS_STORE_IMPL_H
#define MIXFS_STORE_IMPL_H

#include "mixfs/store.h"

/* The folder @rel beneath @root ("" for the root itself): an fd the caller
 * closes, or -errno (-ELOOP / -EXDEV when a symlink is in the way). */
int store_dir_open(const struct store *s, enum store_root root, const char *rel);
/* The same for a name made from @fmt with two strings. */
int store_dir_openf(const struct store *s, enum store_root root, const char *fmt,
		    const char *a, const char *b);

#endif
