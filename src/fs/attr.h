/*
 * attr.h - a node's attributes (mode, owner, size, times) as stat(2)
 * shows them, and how long the kernel may cache a name and its attributes:
 * names of sessions and jobs for a second (dropped at once on delete),
 * synthetic files not at all (they change under the reader).
 */
#ifndef MIXFS_FS_ATTR_H
#define MIXFS_FS_ATTR_H

#include "fs_impl.h"

void attr_base(struct stat *s, mode_t mode, uid_t uid, gid_t gid);
void attr_time(struct stat *s, util_ms t);
int node_attr(struct mixfs_fs *fs, const struct node *n, struct stat *s);
double attr_timeout(const struct node *n);
/* Whether @n is a text file of a final job: a text that cannot change any
 * more (files.c lets the page cache keep it). */
bool attr_text_settled(struct mixfs_fs *fs, const struct node *n);
double entry_timeout(const struct node *n);

#endif
