/* main.c - the mixfs command line (see mixfs(1)). */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "usage: %s [-f] [-d] [-o OPTIONS] MEDIA_DIR MOUNTPOINT\n", argv[0]);
	return 2;
}
