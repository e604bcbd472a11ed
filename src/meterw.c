/* meterw.c - a metering record's copy and its check (see meterw.h). */
#include <string.h>
#include "meterw.h"

/* meter.h's; here so that the record's check links without the database */
size_t meter_clip(const char *s, size_t n)
{
	size_t len = strlen(s);

	if (len <= n)
		return len;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

/* src into dst, cut at a character boundary (strict SQL mode refuses half
 * of one). */
static void mw_copy(char *dst, size_t cap, const char *src)
{
	size_t n = src ? meter_clip(src, cap - 1) : 0;

	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

void meterw_fill(struct meterw_rec *w, const struct meter_rec *m, const char *slot,
		 const char *reqid)
{
	memset(w, 0, sizeof(*w));
	w->version = METERW_VERSION;
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

static int mw_terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

int meterw_decode(const void *p, size_t n, struct meterw_rec *w)
{
	const struct meter_rec *m = &w->m;

	if (n != sizeof(*w))
		return -1;
	memcpy(w, p, n);
	if (w->version != METERW_VERSION ||
	    !mw_terminated(w->model, sizeof(w->model)) ||
	    !mw_terminated(w->error, sizeof(w->error)) ||
	    !mw_terminated(w->route, sizeof(w->route)) ||
	    !mw_terminated(w->day, sizeof(w->day)) ||
	    !mw_terminated(w->reqid, sizeof(w->reqid)) ||
	    !mw_terminated(w->slot, sizeof(w->slot)) ||
	    !mw_terminated(w->backend, sizeof(w->backend)))
		return -1;
	/* only a direct request's record travels (meterq.h, meterd.h) */
	if (m->admit_id <= 0 || m->queue_id != 0 || m->user_id <= 0 || m->key_id <= 0 ||
	    m->http_status < 100 || m->http_status > 999 ||
	    (m->fmt != FMT_OPENAI && m->fmt != FMT_ANTHROPIC) ||
	    m->usage.input < 0 || m->usage.output < 0 || m->usage.cache_creation < 0 ||
	    m->usage.cache_read < 0 || m->usage.total < 0)
		return -1;
	w->m.model = w->m.error = w->m.route = w->m.day = w->m.backend = NULL;
	return 0;
}
