/*
 * dir.h - the folder operations: opendir takes a snapshot of the entries
 * (sessions, jobs, receipts and drafts, stems), readdir and readdirplus
 * (with each entry's attributes) serve it by offset, releasedir drops it.
 */
#ifndef MIXFS_FS_DIR_H
#define MIXFS_FS_DIR_H

#include "fs_impl.h"

void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi);
void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi);
void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

#endif
