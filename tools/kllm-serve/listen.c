// SPDX-License-Identifier: MIT
/*
 * listen.c - kllm-serve's listening sockets: loopback TCP (any address
 * getaddrinfo takes), the Unix socket (mode 0666, a stale socket file
 * replaced, a live one refused) and the sockets systemd passes (socket
 * activation: LISTEN_PID / LISTEN_FDS, descriptors from 3).  http.c runs
 * one libmicrohttpd daemon on each.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "http_int.h"

int sv_listen_tcp(const char *host, int port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	char ps[16];
	int fd = -1, err, one = 1;

	snprintf(ps, sizeof(ps), "%d", port);
	err = getaddrinfo(host, ps, &hints, &res);
	if (err) {
		sv_log("error", "listen", "host=\"%s\" err=\"%s\"", host, gai_strerror(err));
		return -EINVAL;
	}
	err = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (!bind(fd, ai->ai_addr, ai->ai_addrlen) && !listen(fd, 4096))
			break;
		err = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		sv_log("error", "listen", "host=\"%s\" port=%d err=\"%s\"", host, port,
		       strerror(-err));
	return fd < 0 ? err : fd;
}

int sv_listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		sv_log("error", "listen", "unix=\"%s\" err=\"path too long\"", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (!lstat(path, &st) && S_ISSOCK(st.st_mode)) {
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		/* a socket nobody listens on is stale: replace it */
		if (probe >= 0 && !connect(probe, (struct sockaddr *)&sa, sizeof(sa))) {
			close(probe);
			close(fd);
			sv_log("error", "listen", "unix=\"%s\" err=\"a server already listens there\"",
			       path);
			return -EADDRINUSE;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(path, 0666) ||
	    listen(fd, 4096)) {
		err = -errno;
		sv_log("error", "listen", "unix=\"%s\" err=\"%s\"", path, strerror(errno));
		close(fd);
		return err;
	}
	return fd;
}

/* systemd socket activation: LISTEN_PID / LISTEN_FDS, descriptors from 3. */
int sv_listen_systemd(int *fds, int max, int *is_unix)
{
	const char *pid = getenv("LISTEN_PID"), *count = getenv("LISTEN_FDS");
	int n;

	if (!pid || !count || strtol(pid, NULL, 10) != getpid())
		return 0;
	n = atoi(count);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	for (int i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = 3 + i;

		if (getsockname(fd, (struct sockaddr *)&ss, &sl))
			return -errno;
		if (i == max)
			return -EMFILE;
		fds[i] = fd;
		is_unix[i] = ss.ss_family == AF_UNIX;
	}
	return n;
}
