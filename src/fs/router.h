/*
 * router.h - the path router: the child @name of a node, made in the inode
 * table (a lookup), or -ENOENT; and whether a name a user gives a new file
 * may be used. The kernel hands over any bytes as a name: nothing here
 * truncates one into another or reads outside the tree.
 */
#ifndef MIXFS_FS_ROUTER_H
#define MIXFS_FS_ROUTER_H

#include "fs_impl.h"

int child_of(struct mixfs_fs *fs, const struct node *p, const char *name, struct node *c);
int new_name_check(const struct node *dir, const char *name);

#endif
