/* apikey.c - API key creation shared by relayctl and the console. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "allow.h"
#include "apikey.h"
#include "db.h"
#include "secret.h"
#include "sha256.h"

/* See apikey.h. The key is wiped from our stack copy of nothing: it lives
 * only in the caller's buffer, which the caller wipes after showing it. */
enum relay_err apikey_create(struct db *db, long long user_id, const char *name,
			     const char *models, const char *expires,
			     char *key, size_t keylen, char prefix[13], long long *id)
{
	char hex[65];
	enum relay_err rc;

	*id = 0;
	prefix[0] = '\0';
	if (keylen < SECRET_KEY_LEN + 1 || secret_random_key(key, keylen))
		return RE_EIO;
	sha256_hex(key, strlen(key), hex);
	snprintf(prefix, 13, "%.12s", key);
	rc = DBX(db, "INSERT INTO api_keys (user_id, name, key_hash, key_prefix, models,"
		 " expires_at) VALUES (?, ?, ?, ?, ?, ?)", NULL, DBI(user_id),
		 DBS(name && *name ? name : NULL), DBS(hex), DBS(prefix),
		 DBS(models && *models ? models : NULL), DBS(expires && *expires ? expires : NULL));
	if (rc) {
		explicit_bzero(key, keylen);
		return rc;
	}
	*id = (long long)db_insert_id(db);
	return RE_OK;
}

/* The two or four digits at s as a number, or -1. */
static int apikey_digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* See apikey.h. mktime normalises 02-30 to 03-02: a changed day means the
 * date does not exist. */
int apikey_date_ok(const char *s)
{
	struct tm tm;
	int y, m, d;

	if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return 0;
	y = apikey_digits(s, 4);
	m = apikey_digits(s + 5, 2);
	d = apikey_digits(s + 8, 2);
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > 31)
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	tm.tm_hour = 12;
	tm.tm_isdst = -1;
	return mktime(&tm) != (time_t)-1 && tm.tm_mday == d && tm.tm_mon == m - 1;
}

/* 1 if the n bytes at s occur as an item of the comma list out[0..len). */
static int apikey_has(const char *out, size_t len, const char *s, size_t n)
{
	size_t i = 0;

	while (i < len) {
		const char *c = memchr(out + i, ',', len - i);
		size_t e = c ? (size_t)(c - out) : len;

		if (e - i == n && memcmp(out + i, s, n) == 0)
			return 1;
		i = e + 1;
	}
	return 0;
}

/* See apikey.h. The caller owns in and out. */
int apikey_models_norm(const char *in, char *out, size_t outlen)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "0123456789._:/@+-";
	const char *p = in ? in : "";
	size_t len = 0;
	int count = 0;

	if (!outlen)
		return -1;
	out[0] = '\0';
	while (*p) {
		const char *e;
		size_t n;

		while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (!*p)
			break;
		for (e = p; *e && *e != ',' && *e != ' ' && *e != '\t' && *e != '\n' &&
		     *e != '\r'; e++)
			;
		n = (size_t)(e - p);
		if (n > 128 || strspn(p, ok) < n)
			return -1;
		if (!apikey_has(out, len, p, n)) {
			if (len + (len ? 1 : 0) + n + 1 > outlen)
				return -1;
			if (len)
				out[len++] = ',';
			memcpy(out + len, p, n);
			len += n;
			out[len] = '\0';
			count++;
		}
		p = e;
	}
	return count;
}

/* See apikey.h. Every model of a key's list must be allowed by its
 * user's list; "*" only where the user's list has "*" too. */
int apikey_models_beyond(struct db *db, long long user_id, const char *models,
			 char *bad, size_t badlen)
{
	struct db_res res;
	const char *ul, *p = models ? models : "";
	size_t len = 0;
	int n = 0;

	if (badlen)
		bad[0] = '\0';
	if (!*p)
		return 0;               /* no list of its own: the user's */
	if (DBX(db, "SELECT models FROM users WHERE id = ?", &res, DBI(user_id)))
		return -1;
	ul = res.nrows == 1 ? db_res_str(&res, 0, 0) : NULL;
	while (ul && *p) {
		const char *e = strchr(p, ',');
		size_t k = e ? (size_t)(e - p) : strlen(p);
		char m[129];

		snprintf(m, sizeof(m), "%.*s", (int)k, p);
		if (!allow_model(ul, 1, m)) {
			if (len + k + 2 < badlen) {
				len += (size_t)snprintf(bad + len, badlen - len, "%s%s",
							len ? "," : "", m);
			}
			n++;
		}
		p += k + (e ? 1 : 0);
	}
	db_res_free(&res);
	return n;
}
