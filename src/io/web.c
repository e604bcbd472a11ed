/* web.c - FastCGI accept loop with a plain-CGI fallback. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <fcgiapp.h>
#include "log.h"
#include "web.h"

static volatile sig_atomic_t web_stop;
static int web_write_timeout;

void web_set_write_timeout(int seconds)
{
	web_write_timeout = seconds;
}

/* Puts the write deadline on this request's socket. A pipe (plain CGI)
 * refuses it, which is fine: there the web server reads our output. */
static void web_deadline(int fd)
{
	struct timeval tv;

	if (fd < 0 || web_write_timeout <= 0)
		return;
	tv.tv_sec = web_write_timeout;
	tv.tv_usec = 0;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 &&
	    errno != ENOTSOCK)
		log_warn("SO_SNDTIMEO: %s", strerror(errno));
}

static void web_on_term(int sig)
{
	(void)sig;
	web_stop = 1;
	/* libfcgi retries accept() on EINTR unless told to shut down. */
	FCGX_ShutdownPending();
}

const char *web_param(const struct web_req *r, const char *name)
{
	if (r->finished)
		return NULL;
	if (r->fcgx)
		return FCGX_GetParam(name, ((FCGX_Request *)r->fcgx)->envp);
	return getenv(name);
}

const char *web_header(const struct web_req *r, const char *name)
{
	char var[128];
	size_t i, n = strlen(name);

	if (n + 6 > sizeof(var))
		return NULL;
	memcpy(var, "HTTP_", 5);
	for (i = 0; i < n; i++) {
		char c = name[i];
		var[5 + i] = c == '-' ? '_' :
			(c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
	}
	var[5 + n] = '\0';
	return web_param(r, var);
}

long web_read(struct web_req *r, char *p, size_t n)
{
	if (r->finished)
		return -1;
	if (r->fcgx) {
		int want = n > 1 << 20 ? 1 << 20 : (int)n;
		int got = FCGX_GetStr(p, want, ((FCGX_Request *)r->fcgx)->in);
		return got;
	}
	for (;;) {
		ssize_t got = read(STDIN_FILENO, p, n);
		if (got < 0 && errno == EINTR)
			continue;
		return got;
	}
}

int web_write(struct web_req *r, const void *p, size_t n)
{
	const char *s = p;

	if (r->client_gone)
		return -1;
	if (r->fcgx) {
		FCGX_Stream *out = ((FCGX_Request *)r->fcgx)->out;
		while (n) {
			int chunk = n > 1 << 20 ? 1 << 20 : (int)n;
			if (FCGX_PutStr(s, chunk, out) != chunk)
				goto gone;
			s += chunk;
			n -= (size_t)chunk;
			r->bytes_out += (unsigned)chunk;
		}
		return 0;
	}
	/* CGI: unbuffered write(2) so streamed events leave at once. */
	while (n) {
		ssize_t w = write(STDOUT_FILENO, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto gone;
		s += w;
		n -= (size_t)w;
		r->bytes_out += (unsigned long long)w;
	}
	return 0;
gone:
	r->client_gone = 1;
	return -1;
}

int web_flush(struct web_req *r)
{
	if (r->client_gone)
		return -1;
	if (r->fcgx && FCGX_FFlush(((FCGX_Request *)r->fcgx)->out) < 0) {
		r->client_gone = 1;
		return -1;
	}
	return 0;
}

void web_finish(struct web_req *r)
{
	if (r->finished)
		return;
	r->finished = 1;
	r->client_gone = 1;      /* later writes are dropped */
	if (r->fcgx)
		FCGX_Finish_r(r->fcgx);
	else
		close(STDOUT_FILENO);
	r->method = r->query = "";
}

int web_watch_fd(struct web_req *r, short *events)
{
	char sink[4096];

	if (r->finished || r->client_gone)
		return -1;
	if (r->fcgx) {
		/* Consume the rest of the body stream (its closing empty
		 * record) so that afterwards only an abort or the web server
		 * closing the connection makes the socket readable. */
		while (FCGX_GetStr(sink, (int)sizeof(sink), ((FCGX_Request *)r->fcgx)->in) > 0)
			;
		*events = POLLIN | POLLRDHUP;
		return ((FCGX_Request *)r->fcgx)->ipcFd;
	}
	/* CGI: the web server reads our stdout; its end closing shows up as
	 * POLLERR / POLLHUP, which poll() reports whatever was asked. */
	*events = 0;
	return STDOUT_FILENO;
}

int web_gone_now(struct web_req *r)
{
	struct pollfd p;

	p.fd = web_watch_fd(r, &p.events);
	if (p.fd < 0)
		return r->client_gone;
	p.revents = 0;
	if (poll(&p, 1, 0) > 0 && p.revents) {
		r->client_gone = 1;
		return 1;
	}
	return 0;
}

/* Fills the fields every handler reads and makes a request id. */
static void web_prepare(struct web_req *r, void *fcgx)
{
	static unsigned long seq;
	const char *cl;
	char *end;
	struct timespec ts;

	memset(r, 0, sizeof(*r));
	r->fcgx = fcgx;
	web_deadline(fcgx ? ((FCGX_Request *)fcgx)->ipcFd : STDOUT_FILENO);
	r->method = web_param(r, "REQUEST_METHOD");
	if (!r->method)
		r->method = "";
	r->query = web_param(r, "QUERY_STRING");
	if (!r->query)
		r->query = "";
	r->content_length = -1;
	cl = web_param(r, "CONTENT_LENGTH");
	if (cl && *cl) {
		long long v;
		errno = 0;
		v = strtoll(cl, &end, 10);
		if (!errno && *end == '\0' && v >= 0)
			r->content_length = v;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(r->id, sizeof(r->id), "%lx%05lx",
		 (unsigned long)getpid() & 0xfffff,
		 (unsigned long)((ts.tv_nsec / 1000) ^ (++seq << 10)) & 0xfffff);
	log_set_request(r->id);
}

/* While waiting in accept(), SIGTERM must interrupt it (no SA_RESTART) so
 * an idle process exits; while a request runs, the same signal must not
 * cut a write to the client or a read with EINTR (libfcgi treats that as a
 * broken stream): restart = 1 installs the handler with SA_RESTART. The
 * flag is set either way and the loop ends after the request. */
static void web_signals(int restart)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = web_on_term;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
}

int web_persistent(void)
{
	return !FCGX_IsCGI();
}

static int (*web_idle_fd)(void *ctx);
static void (*web_idle_run)(void *ctx);

void web_set_idle(int (*fd)(void *ctx), void (*run)(void *ctx))
{
	web_idle_fd = fd;
	web_idle_run = run;
}

/* Before accept(): while the idle hook has an fd to watch, waits for it
 * or for a connection on the listening socket, whichever
 * comes first. Not with a kept connection (its next request comes on it,
 * not on fd 0). SIGTERM interrupts the poll (no SA_RESTART). */
static void web_wait_idle(const FCGX_Request *fr, void *ctx)
{
	int fd;

	while (web_idle_fd && fr->ipcFd < 0 && !web_stop && (fd = web_idle_fd(ctx)) >= 0) {
		/* the end only: data on it (meterd's acknowledgements) need
		 * not wake the process, it reads them at its next request */
		struct pollfd p[2] = { { fr->listen_sock, POLLIN, 0 }, { fd, POLLRDHUP, 0 } };

		if (poll(p, 2, -1) < 0)
			return;   /* EINTR: the stop, or a signal: accept as ever */
		if (p[1].revents)
			web_idle_run(ctx);
		if (p[0].revents)
			return;
	}
}

int web_run(web_handler h, void *ctx)
{
	FCGX_Request fr;
	struct web_req r;

	signal(SIGPIPE, SIG_IGN);
	web_signals(0);

	if (FCGX_Init() != 0)
		return 1;
	if (FCGX_IsCGI()) {
		web_signals(1);
		web_prepare(&r, NULL);
		h(&r, ctx);
		log_set_request("");
		return 0;
	}
	if (FCGX_InitRequest(&fr, 0, 0) != 0)
		return 1;
	while (!web_stop && (web_wait_idle(&fr, ctx), !web_stop) && FCGX_Accept_r(&fr) >= 0) {
		web_signals(1);
		web_prepare(&r, &fr);
		h(&r, ctx);
		if (!r.finished)
			FCGX_Finish_r(&fr);
		log_set_request("");
		web_signals(0);
	}
	FCGX_Free(&fr, 1);
	return 0;
}
