/* sigv4.c - AWS Signature Version 4 (see sigv4.h). */
#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "sha256.h"
#include "sigv4.h"

int sigv4_uri_encode(const char *s, int keep_slash, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			(c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
			c == '~' || (keep_slash && c == '/');
		if (o + (plain ? 1 : 3) >= cap)
			return -1;
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (o >= cap)
		return -1;
	out[o] = '\0';
	return 0;
}

static void sigv4_hmac(const unsigned char *key, size_t klen, const char *msg,
		       unsigned char out[32])
{
	unsigned int n = 32;

	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n);
}

/* The canonical request's SHA-256 (hex) into hash. 0 or -1. */
static int sigv4_canon(const struct sigv4_in *in, const char *signed_h, char hash[65])
{
	char path[2400], body[65], canon[4096], tok[1200] = "";
	int w;

	if (in->s3) {
		if (strlen(in->path) >= sizeof(path))
			return -1;
		snprintf(path, sizeof(path), "%s", in->path);
	} else if (sigv4_uri_encode(in->path[0] ? in->path : "/", 1, path, sizeof(path))) {
		return -1;
	}
	sha256_hex(in->payload ? in->payload : "", in->payload_len, body);
	if (in->session_token &&
	    snprintf(tok, sizeof(tok), "x-amz-security-token:%s\n", in->session_token) >=
	    (int)sizeof(tok))
		return -1;
	w = snprintf(canon, sizeof(canon), "%s\n%s\n%s\nhost:%s\nx-amz-date:%s\n%s\n%s\n%s",
		     in->method, path, in->query ? in->query : "", in->host, in->amz_date, tok,
		     signed_h, body);
	if (w < 0 || (size_t)w >= sizeof(canon))
		return -1;
	sha256_hex(canon, (size_t)w, hash);
	return 0;
}

int sigv4_sign(const struct sigv4_in *in, char *auth, size_t cap)
{
	const char *signed_h = in->session_token ? "host;x-amz-date;x-amz-security-token" :
		"host;x-amz-date";
	char date[9], scope[200], sts[400], hash[65], kdate[300], sig[65];
	unsigned char k[32], s[32];
	int w, i;

	if (strlen(in->amz_date) != 16 || strlen(in->secret) > 250)
		return -1;
	snprintf(date, sizeof(date), "%.8s", in->amz_date);
	w = snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, in->region,
		     in->service);
	if (w < 0 || (size_t)w >= sizeof(scope) || sigv4_canon(in, signed_h, hash))
		return -1;
	snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", in->amz_date, scope, hash);
	/* the derived key: kSecret -> kDate -> kRegion -> kService -> kSigning */
	snprintf(kdate, sizeof(kdate), "AWS4%s", in->secret);
	sigv4_hmac((const unsigned char *)kdate, strlen(kdate), date, k);
	memset(kdate, 0, sizeof(kdate));
	sigv4_hmac(k, 32, in->region, k);
	sigv4_hmac(k, 32, in->service, k);
	sigv4_hmac(k, 32, "aws4_request", k);
	sigv4_hmac(k, 32, sts, s);
	memset(k, 0, sizeof(k));
	for (i = 0; i < 32; i++)
		snprintf(sig + 2 * i, 3, "%02x", s[i]);
	w = snprintf(auth, cap, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s,"
		     " Signature=%s", in->akid, scope, signed_h, sig);
	return w < 0 || (size_t)w >= cap ? -1 : 0;
}
