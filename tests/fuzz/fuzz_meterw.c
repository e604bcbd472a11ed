/* fuzz_meterw.c - libFuzzer target for meterw_decode / meterw_encode: the
 * bytes meterd takes from any local peer.
 *
 * Byte 0 chooses: even = the rest is a received datagram (decode must not
 * read past it and, when it accepts, re-encoding gives the same bytes);
 * odd = the rest is cut into the record's strings (any bytes, any length),
 * filled, encoded and decoded again, which must give the same record. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "meterw.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct meterw_rec w, w2;
static unsigned char wire[METERW_WIRE_MAX];

static void check_fields(const struct meterw_rec *r)
{
	CHECK(memchr(r->model, 0, sizeof(r->model)) && memchr(r->error, 0, sizeof(r->error)) &&
	      memchr(r->route, 0, sizeof(r->route)) && memchr(r->day, 0, sizeof(r->day)) &&
	      memchr(r->reqid, 0, sizeof(r->reqid)) && memchr(r->slot, 0, sizeof(r->slot)) &&
	      memchr(r->backend, 0, sizeof(r->backend)));
	CHECK(r->m.model == NULL && r->m.error == NULL && r->m.backend == NULL);
}

static void decode_raw(const uint8_t *p, size_t n)
{
	unsigned char *copy = malloc(n ? n : 1);   /* exact size: ASan sees overreads */
	size_t m;

	CHECK(copy);
	memcpy(copy, p, n);
	if (meterw_decode(copy, n, &w) == 0) {
		check_fields(&w);
		CHECK(w.m.admit_id > 0 && w.m.queue_id == 0);
		CHECK(w.kind == METERW_HANDED || w.kind == METERW_REG || w.kind == METERW_FIN);
		CHECK((w.kind == METERW_REG) == (w.seq == 0));
		m = meterw_encode(&w, wire);
		CHECK(m == n && meterw_decode(wire, m, &w2) == 0);
		CHECK(strcmp(w.model, w2.model) == 0 && strcmp(w.backend, w2.backend) == 0);
	}
	free(copy);
}

/* The next string of the input: up to a 0xff byte (NULs kept inside). */
static char *next_str(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *s = *p, *e = memchr(s, 0xff, (size_t)(end - s));
	size_t n;
	char *out;

	if (!e)
		e = end;
	n = (size_t)(e - s);
	out = malloc(n + 1);
	CHECK(out);
	memcpy(out, s, n);
	out[n] = '\0';
	*p = e < end ? e + 1 : end;
	return out;
}

static void round_trip(const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;
	char *s[6];
	struct meter_rec m;
	size_t len;

	for (int i = 0; i < 6; i++)
		s[i] = next_str(&p, end);
	memset(&m, 0, sizeof(m));
	m.user_id = 1;
	m.key_id = 2;
	m.admit_id = 3;
	m.fmt = n & 2 ? FMT_ANTHROPIC : FMT_OPENAI;
	m.http_status = 200;
	m.model = s[0];
	m.error = n & 4 ? s[1] : NULL;
	m.route = s[2];
	m.day = s[3];
	m.backend = n & 8 ? s[4] : NULL;
	meterw_fill(&w, &m, n & 16 ? s[5] : NULL, s[5]);
	/* each kind that travels: HANDED, FIN (numbered), REG */
	w.kind = METERW_HANDED + (unsigned)(n % 3);
	w.seq = w.kind == METERW_REG ? 0 : (unsigned long long)n + 1;
	len = meterw_encode(&w, wire);
	CHECK(len <= METERW_WIRE_MAX);
	CHECK(meterw_decode(wire, len, &w2) == 0);
	check_fields(&w2);
	CHECK(strcmp(w.model, w2.model) == 0 && strcmp(w.error, w2.error) == 0 &&
	      strcmp(w.route, w2.route) == 0 && strcmp(w.day, w2.day) == 0 &&
	      strcmp(w.backend, w2.backend) == 0 && strcmp(w.slot, w2.slot) == 0 &&
	      strcmp(w.reqid, w2.reqid) == 0);
	CHECK(w2.has_error == (m.error != NULL) && w2.has_backend == (m.backend != NULL) &&
	      w2.has_slot == ((n & 16) != 0));
	CHECK(w2.kind == w.kind && w2.seq == w.seq);
	/* every prefix of a record is refused */
	CHECK(meterw_decode(wire, len - 1, &w2) == -1);
	for (int i = 0; i < 6; i++)
		free(s[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		round_trip(data + 1, size - 1);
	else
		decode_raw(data + 1, size - 1);
	return 0;
}
