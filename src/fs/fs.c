/* fs.c - the mounted tree. */
#include <stdio.h>

#include "mixfs/fs.h"

int fs_main(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "usage: %s [-f] [-d] [-o OPTIONS] MEDIA_DIR MOUNTPOINT\n", argv[0]);
	return 2;
}
