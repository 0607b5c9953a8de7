/*
 * fs.h - the mounted tree (SPEC section 5): parses the mount command line
 * and options, opens the job manager, mounts, and serves until unmounted
 * or signalled. The only module that includes fuse.h.
 */
#ifndef MIXFS_FS_H
#define MIXFS_FS_H

/* Returns the process exit status. */
int fs_main(int argc, char **argv);

#endif
