/* test_meterw.c - unit tests for the metering record (meterw.h): what a
 * web process sends to bin/meterd and what meterd accepts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "meterw.h"

static struct meterw_rec w, got;
static unsigned char wire[METERW_WIRE_MAX];

static void rec(struct meter_rec *m)
{
	memset(m, 0, sizeof(*m));
	m->user_id = 7;
	m->key_id = 9;
	m->admit_id = 123456789012345LL;
	m->fmt = FMT_ANTHROPIC;
	m->model = "claude-x";
	m->http_status = 200;
	m->route = "messages";
	m->day = "2026-12-04";
	m->backend = "{\"id\":3,\"name\":\"b\",\"ok\":1}";
	m->usage.input = 11;
	m->usage.output = 22;
	m->latency_ms = 5;
}

static void test_round_trip(void **state)
{
	struct meter_rec m, v;
	size_t n;

	(void)state;
	rec(&m);
	meterw_fill(&w, &m, "relay:slot:2", "abc");
	w.seq = 1;
	n = meterw_encode(&w, wire);
	/* compact: the strings' bytes, not their fields' */
	assert_true(n < 600);
	assert_int_equal(meterw_decode(wire, n, &got), 0);
	meterw_view(&got, &v);
	assert_string_equal(v.model, "claude-x");
	assert_null(v.error);
	assert_string_equal(v.route, "messages");
	assert_string_equal(v.day, "2026-12-04");
	assert_string_equal(v.backend, m.backend);
	assert_string_equal(got.slot, "relay:slot:2");
	assert_string_equal(got.reqid, "abc");
	assert_int_equal(got.has_slot, 1);
	assert_int_equal(v.admit_id, m.admit_id);
	assert_int_equal(v.usage.output, 22);
}

static void test_long_strings_cut_at_a_character(void **state)
{
	struct meter_rec m, v;
	char model[600];
	size_t n;

	(void)state;
	rec(&m);
	for (size_t i = 0; i + 2 < sizeof(model); i += 2)
		memcpy(model + i, "\xc3\xa9", 2);   /* e-acute, two bytes each */
	model[sizeof(model) - 2] = '\0';
	m.model = model;
	m.error = "boom";
	meterw_fill(&w, &m, NULL, "r");
	w.seq = 1;
	n = meterw_encode(&w, wire);
	assert_int_equal(meterw_decode(wire, n, &got), 0);
	meterw_view(&got, &v);
	assert_int_equal(strlen(v.model) % 2, 0);   /* no half character */
	assert_true(strlen(v.model) < sizeof(got.model));
	assert_string_equal(v.error, "boom");
	assert_int_equal(got.has_slot, 0);
}

static void test_refused(void **state)
{
	struct meter_rec m;
	size_t n;

	(void)state;
	rec(&m);
	meterw_fill(&w, &m, NULL, "r");
	w.seq = 1;
	n = meterw_encode(&w, wire);
	/* cut, or with a byte more */
	for (size_t k = 0; k < n; k++)
		assert_int_equal(meterw_decode(wire, k, &got), -1);
	wire[n] = 0;
	assert_int_equal(meterw_decode(wire, n + 1, &got), -1);
	/* another version */
	wire[0] ^= 1;
	assert_int_equal(meterw_decode(wire, n, &got), -1);
	wire[0] ^= 1;
	/* a string without its NUL */
	wire[n - 1] = 'x';
	assert_int_equal(meterw_decode(wire, n, &got), -1);
	/* a queued item's record never travels */
	m.queue_id = 5;
	meterw_fill(&w, &m, NULL, "r");
	w.seq = 1;
	n = meterw_encode(&w, wire);
	assert_int_equal(meterw_decode(wire, n, &got), -1);
	m.queue_id = 0;
	m.admit_id = 0;
	meterw_fill(&w, &m, NULL, "r");
	w.seq = 1;
	n = meterw_encode(&w, wire);
	assert_int_equal(meterw_decode(wire, n, &got), -1);
}

/* The kinds (meterw.h): a registration without a number, a HANDED and a
 * FIN with one travel; a HANDED or FIN without its number or a numbered
 * registration does not, and meterd's own TOMB never comes from the
 * wire. */
static void test_kinds(void **state)
{
	struct meter_rec m;
	size_t n;

	(void)state;
	rec(&m);
	meterw_fill(&w, &m, NULL, "r");
	assert_int_equal(w.kind, METERW_HANDED);
	assert_int_equal(w.seq, 0);
	n = meterw_encode(&w, wire);     /* a HANDED is numbered */
	assert_int_equal(meterw_decode(wire, n, &got), -1);
	w.seq = 5;
	n = meterw_encode(&w, wire);
	assert_int_equal(meterw_decode(wire, n, &got), 0);
	assert_int_equal(got.kind, METERW_HANDED);
	assert_int_equal(got.seq, 5);
	w.kind = METERW_REG;             /* a registration is not */
	n = meterw_encode(&w, wire);
	assert_int_equal(meterw_decode(wire, n, &got), -1);
	w.seq = 0;
	n = meterw_encode(&w, wire);
	assert_int_equal(meterw_decode(wire, n, &got), 0);
	assert_int_equal(got.kind, METERW_REG);
	w.kind = METERW_FIN;
	w.seq = 77;
	n = meterw_encode(&w, wire);
	assert_int_equal(meterw_decode(wire, n, &got), 0);
	assert_int_equal(got.kind, METERW_FIN);
	assert_int_equal(got.seq, 77);
	w.seq = 0;                       /* a FIN is numbered */
	n = meterw_encode(&w, wire);
	assert_int_equal(meterw_decode(wire, n, &got), -1);
	w.kind = METERW_TOMB;
	n = meterw_encode(&w, wire);
	assert_int_equal(meterw_decode(wire, n, &got), -1);
	w.kind = 99;
	n = meterw_encode(&w, wire);
	assert_int_equal(meterw_decode(wire, n, &got), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_long_strings_cut_at_a_character),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_kinds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
