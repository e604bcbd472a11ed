/* meterw.c - a metering record's copy and its check (see meterw.h). */
#include <string.h>
#include "clip.h"
#include "meterw.h"

/* src into dst, cut at a character boundary (strict SQL mode refuses half
 * of one). */
static void mw_copy(char *dst, size_t cap, const char *src)
{
	size_t n = src ? clip_utf8(src, cap - 1) : 0;

	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

void meterw_fill(struct meterw_rec *w, const struct meter_rec *m, const char *slot,
		 const char *reqid)
{
	memset(w, 0, sizeof(*w));
	w->version = METERW_VERSION;
	w->kind = METERW_HANDED;
	w->m = *m;
	w->m.model = w->m.error = w->m.route = w->m.day = w->m.backend = NULL;
	mw_copy(w->model, sizeof(w->model), m->model);
	w->has_error = m->error != NULL;
	mw_copy(w->error, sizeof(w->error), m->error);
	mw_copy(w->route, sizeof(w->route), m->route);
	mw_copy(w->day, sizeof(w->day), m->day);
	w->has_backend = m->backend != NULL;
	mw_copy(w->backend, sizeof(w->backend), m->backend);
	w->has_slot = slot != NULL;
	mw_copy(w->slot, sizeof(w->slot), slot);
	mw_copy(w->reqid, sizeof(w->reqid), reqid);
}

void meterw_view(const struct meterw_rec *w, struct meter_rec *m)
{
	*m = w->m;
	m->model = w->model;
	m->error = w->has_error ? w->error : NULL;
	m->route = w->route[0] ? w->route : NULL;
	m->day = w->day[0] ? w->day : NULL;
	m->backend = w->has_backend ? w->backend : NULL;
}

/* The wire's fixed part: the record's, and the strings' lengths (each
 * followed by its NUL after it, in this order). */
struct mw_head {
	unsigned version;
	unsigned kind;
	unsigned long long seq;
	struct meter_rec m;
	int has_error, has_backend, has_slot;
	unsigned short len[7];
};

#define MW_FIELDS(w)                                                        \
	{ (w)->model, (w)->error, (w)->route, (w)->day, (w)->reqid, (w)->slot, \
	  (w)->backend }
#define MW_CAPS(w)                                                          \
	{ sizeof((w)->model), sizeof((w)->error), sizeof((w)->route),          \
	  sizeof((w)->day), sizeof((w)->reqid), sizeof((w)->slot),             \
	  sizeof((w)->backend) }

size_t meterw_encode(const struct meterw_rec *w, void *buf)
{
	const char *f[7] = MW_FIELDS(w);
	struct mw_head h;
	char *p = buf;
	size_t off = sizeof(h);

	memset(&h, 0, sizeof(h));
	h.version = w->version;
	h.kind = w->kind;
	h.seq = w->seq;
	h.m = w->m;
	h.has_error = w->has_error;
	h.has_backend = w->has_backend;
	h.has_slot = w->has_slot;
	for (int i = 0; i < 7; i++) {
		size_t n = strlen(f[i]);

		h.len[i] = (unsigned short)n;
		memcpy(p + off, f[i], n + 1);
		off += n + 1;
	}
	memcpy(p, &h, sizeof(h));
	return off;
}

int meterw_decode(const void *p, size_t n, struct meterw_rec *w)
{
	const unsigned char *b = p;
	struct mw_head h;
	size_t off = sizeof(h);
	const struct meter_rec *m = &h.m;

	if (n < sizeof(h))
		return -1;
	memcpy(&h, p, sizeof(h));
	if (h.version != METERW_VERSION ||
	    (h.kind != METERW_HANDED && h.kind != METERW_REG && h.kind != METERW_FIN) ||
	    (h.kind == METERW_REG) != (h.seq == 0))
		return -1;
	memset(w, 0, sizeof(*w));
	{
		char *f[7] = MW_FIELDS(w);
		size_t cap[7] = MW_CAPS(w);

		for (int i = 0; i < 7; i++) {
			size_t len = h.len[i];

			if (len >= cap[i] || len + 1 > n - off || b[off + len] != '\0' ||
			    memchr(b + off, '\0', len))
				return -1;
			memcpy(f[i], b + off, len + 1);
			off += len + 1;
		}
	}
	if (off != n)
		return -1;
	/* only a direct request's record travels (meterq.h, meterd.h) */
	if (m->admit_id <= 0 || m->queue_id != 0 || m->user_id <= 0 || m->key_id <= 0 ||
	    m->http_status < 100 || m->http_status > 999 ||
	    (m->fmt != FMT_OPENAI && m->fmt != FMT_ANTHROPIC) ||
	    m->usage.input < 0 || m->usage.output < 0 || m->usage.cache_creation < 0 ||
	    m->usage.cache_read < 0 || m->usage.total < 0)
		return -1;
	w->version = h.version;
	w->kind = h.kind;
	w->seq = h.seq;
	w->m = h.m;
	w->m.model = w->m.error = w->m.route = w->m.day = w->m.backend = NULL;
	w->has_error = h.has_error != 0;
	w->has_backend = h.has_backend != 0;
	w->has_slot = h.has_slot != 0;
	return 0;
}
