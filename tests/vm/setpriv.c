// SPDX-License-Identifier: MIT
/*
 * setpriv.c - the subset of util-linux setpriv(1) the guest needs (busybox
 * has none): setpriv --reuid UID --regid GID --clear-groups CMD [ARGS...]
 */
#define _GNU_SOURCE
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int usage(void)
{
	fprintf(stderr, "usage: setpriv --reuid UID --regid GID --clear-groups CMD [ARGS...]\n");
	return 127;
}

int main(int argc, char **argv)
{
	long uid = -1, gid = -1;
	int clear = 0, i;

	for (i = 1; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--clear-groups"))
			clear = 1;
		else if (!strcmp(argv[i], "--reuid") && i + 1 < argc)
			uid = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--regid") && i + 1 < argc)
			gid = strtol(argv[++i], NULL, 10);
		else
			return usage();
	}
	if (i >= argc)
		return usage();
	if ((clear && setgroups(0, NULL)) ||
	    (gid >= 0 && setresgid(gid, gid, gid)) ||
	    (uid >= 0 && setresuid(uid, uid, uid))) {
		perror("setpriv");
		return 127;
	}
	execvp(argv[i], argv + i);
	perror(argv[i]);
	return 127;
}
