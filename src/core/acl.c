/* acl.c - address allow-lists (see acl.h). */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "acl.h"

#define ACL_ENTRY_MAX 64      /* longest entry looked at ("addr/prefix") */

/* An address in IPv6 form (IPv4 as ::ffff:a.b.c.d) and whether it was
 * written as IPv4 (its prefix then counts from bit 96). */
struct acl_addr {
	unsigned char b[16];
	int v4;
};

static int acl_parse_addr(const char *s, struct acl_addr *a)
{
	struct in_addr v4;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &v4) == 1) {
		a->b[10] = a->b[11] = 0xff;
		memcpy(a->b + 12, &v4, 4);
		a->v4 = 1;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->b) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		a->v4 = memcmp(a->b, mapped, 12) == 0;
		return 0;
	}
	return -1;
}

/* Parses one entry (NUL-terminated copy) into its network and prefix
 * length in IPv6 bits. */
static int acl_parse_entry(const char *e, struct acl_addr *net, int *bits)
{
	char tmp[ACL_ENTRY_MAX];
	const char *slash = strchr(e, '/');
	size_t n = slash ? (size_t)(slash - e) : strlen(e);
	int max;

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, e, n);
	tmp[n] = '\0';
	if (acl_parse_addr(tmp, net))
		return -1;
	max = net->v4 ? 32 : 128;
	*bits = max;
	if (slash) {
		const char *p = slash + 1;
		int v = 0;

		if (!*p || strlen(p) > 3)
			return -1;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			v = v * 10 + (*p - '0');
		}
		if (v > max)
			return -1;
		*bits = v;
	}
	if (net->v4)
		*bits += 96;
	return 0;
}

static int acl_in(const struct acl_addr *a, const struct acl_addr *net, int bits)
{
	int full = bits / 8, rest = bits % 8;

	if (memcmp(a->b, net->b, (size_t)full) != 0)
		return 0;
	if (rest) {
		unsigned char m = (unsigned char)(0xff << (8 - rest));
		if ((a->b[full] & m) != (net->b[full] & m))
			return 0;
	}
	return 1;
}

/* Calls fn for each entry of list (copied NUL-terminated, at most
 * ACL_ENTRY_MAX-1 bytes; a longer one is passed as "" so it is bad).
 * Stops when fn returns nonzero and returns that value, else 0. */
static int acl_each(const char *list, int (*fn)(const char *e, int idx, void *ctx),
		    void *ctx)
{
	const char *p = list ? list : "";
	int idx = 0;

	for (;;) {
		char e[ACL_ENTRY_MAX];
		size_t n;
		int rc;

		p += strspn(p, ", \t");
		if (!*p)
			return 0;
		n = strcspn(p, ", \t");
		idx++;
		if (n < sizeof(e)) {
			memcpy(e, p, n);
			e[n] = '\0';
		} else {
			e[0] = '\0';
		}
		if ((rc = fn(e, idx, ctx)))
			return rc;
		p += n;
	}
}

static int acl_check_one(const char *e, int idx, void *ctx)
{
	struct acl_addr net;
	int bits;

	if (acl_parse_entry(e, &net, &bits)) {
		*(int *)ctx = idx;
		return 1;
	}
	return 0;
}

int acl_check(const char *list, int *bad)
{
	int idx = 0;

	if (acl_each(list, acl_check_one, &idx)) {
		if (bad)
			*bad = idx;
		return -1;
	}
	return 0;
}

static int acl_match_one(const char *e, int idx, void *ctx)
{
	const struct acl_addr *a = ctx;
	struct acl_addr net;
	int bits;

	(void)idx;
	if (acl_parse_entry(e, &net, &bits))
		return 0;
	return acl_in(a, &net, bits);
}

int acl_match(const char *list, const char *addr)
{
	struct acl_addr a;
	char tmp[ACL_ENTRY_MAX];
	size_t n;

	if (!addr || !*addr || (n = strlen(addr)) >= sizeof(tmp))
		return 0;
	/* a zone index (fe80::1%eth0) is not part of the address */
	n = strcspn(addr, "%");
	memcpy(tmp, addr, n);
	tmp[n] = '\0';
	if (acl_parse_addr(tmp, &a))
		return 0;
	return acl_each(list, acl_match_one, &a) ? 1 : 0;
}
