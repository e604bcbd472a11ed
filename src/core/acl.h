/* acl.h - address allow-lists ("127.0.0.1, 10.0.0.0/8, ::1, fd00::/8"),
 * used by GET /metrics (metrics_allow).
 *
 * Pure string work on caller memory: no allocation, so it is easy to fuzz
 * (tests/fuzz/fuzz_acl.c). An IPv4 client seen as an IPv4-mapped IPv6
 * address (::ffff:a.b.c.d, a dual-stack socket) matches IPv4 entries. */
#ifndef RELAY_ACL_H
#define RELAY_ACL_H

#include <stddef.h>

/* Checks a list's syntax: 0 if every comma/space-separated entry is an
 * address or address/prefix, else -1 with the 1-based index of the first
 * bad entry in *bad (may be NULL). An empty list is valid (matches
 * nothing). */
int acl_check(const char *list, int *bad);

/* 1 if addr (a textual IPv4/IPv6 address, e.g. REMOTE_ADDR) matches an
 * entry of list, else 0 (also for a NULL, empty or unparsable addr; bad
 * entries never match). */
int acl_match(const char *list, const char *addr);

#endif
