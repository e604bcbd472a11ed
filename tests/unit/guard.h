/* guard.h - inputs placed right before an inaccessible page, so a parser
 * that reads one byte past its input crashes the test (after
 * picohttpparser's tests). Include once per test program, after cmocka.h;
 * pass guard_setup/guard_teardown to cmocka_run_group_tests. */
#ifndef RELAY_TEST_GUARD_H
#define RELAY_TEST_GUARD_H

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static char *guard_mem;   /* two pages: readable, then PROT_NONE */
static size_t guard_page;

/* Copies n bytes of s so that they end right at the guard page; the copy
 * lives until the next call. */
static const char *guarded_n(const char *s, size_t n)
{
	char *p;

	assert_true(n <= guard_page);
	p = guard_mem + guard_page - n;
	if (n)
		memcpy(p, s, n);
	return p;
}

/* Maps the two pages and makes the second inaccessible. */
static int guard_setup(void **state)
{
	long ps = sysconf(_SC_PAGESIZE);

	(void)state;
	if (ps <= 0)
		return -1;
	guard_page = (size_t)ps;
	guard_mem = mmap(NULL, 2 * guard_page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard_mem == MAP_FAILED)
		return -1;
	return mprotect(guard_mem + guard_page, guard_page, PROT_NONE);
}

/* Releases the guarded pages. */
static int guard_teardown(void **state)
{
	(void)state;
	return munmap(guard_mem, 2 * guard_page);
}

#endif
