/* meterc.c - handing a record to bin/meterd (see meterc.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "cfg.h"
#include "log.h"
#include "meterc.h"
#include "meterw.h"

/* A full socket means meterd is behind (its database stalls): wait this
 * long, then meter here, which waits for the same database anyway. */
#define MC_SEND_TIMEOUT_S 2
#define MC_RETRY_S 1

struct meterc {
	const struct cfg *c;
	int fd;
	time_t retry_at;    /* no connect before this after a failure */
	struct meterw_rec w;
};

struct meterc *meterc_new(const struct cfg *c)
{
	struct meterc *mc;

	if (!c->meter_socket[0] || !(mc = calloc(1, sizeof(*mc))))
		return NULL;
	mc->c = c;
	mc->fd = -1;
	return mc;
}

static void mc_close(struct meterc *mc)
{
	if (mc->fd >= 0)
		close(mc->fd);
	mc->fd = -1;
}

static int mc_connect(struct meterc *mc)
{
	struct sockaddr_un sa;
	struct timeval tv = { MC_SEND_TIMEOUT_S, 0 };
	size_t n = strlen(mc->c->meter_socket);
	time_t now = time(NULL);

	if (now < mc->retry_at || n >= sizeof(sa.sun_path))
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, mc->c->meter_socket, n);
	mc->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (mc->fd < 0 || setsockopt(mc->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    connect(mc->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (mc->retry_at == 0 || errno != ENOENT)
			log_warn("meterd at %s: %s; metering in this process", mc->c->meter_socket,
				 strerror(errno));
		mc_close(mc);
		mc->retry_at = now + MC_RETRY_S;
		return -1;
	}
	return 0;
}

int meterc_send(struct meterc *mc, const struct meter_rec *m, const char *slot)
{
	meterw_fill(&mc->w, m, slot, log_request());
	for (int tries = 0; tries < 2; tries++) {
		if (mc->fd < 0 && mc_connect(mc))
			return -1;
		if (send(mc->fd, &mc->w, sizeof(mc->w), MSG_NOSIGNAL) == (ssize_t)sizeof(mc->w))
			return 0;
		/* EPIPE / ECONNRESET: meterd restarted since; once more on a
		 * new connection. EAGAIN (the timeout): it is behind. */
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			log_warn("meterd is behind (its socket stayed full %d s); metering in this process",
				 MC_SEND_TIMEOUT_S);
			return -1;
		}
		mc_close(mc);
	}
	mc->retry_at = time(NULL) + MC_RETRY_S;
	return -1;
}

void meterc_free(struct meterc *mc)
{
	if (!mc)
		return;
	mc_close(mc);
	free(mc);
}
