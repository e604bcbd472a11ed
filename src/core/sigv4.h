/* sigv4.h - AWS Signature Version 4 (issue 28: Bedrock backends), as AWS
 * documents it: canonical request, string to sign, the derived signing
 * key (HMAC-SHA256 chain over date, region, service, "aws4_request"),
 * signature. Signed headers are host, x-amz-date and, with a session
 * token, x-amz-security-token. Checked against AWS's published SigV4 test
 * suite (tests/unit/test_sigv4.c). */
#ifndef RELAY_SIGV4_H
#define RELAY_SIGV4_H

#include <stddef.h>

struct sigv4_in {
	const char *method;          /* "POST" */
	const char *host;            /* the Host header's value (with :port
					when not the scheme's default) */
	const char *path;            /* the path as sent (already encoded) */
	const char *query;           /* canonical query string, "" = none */
	const char *amz_date;        /* YYYYMMDDTHHMMSSZ */
	const char *region, *service;
	const char *akid, *secret;
	const char *session_token;   /* NULL = none */
	const char *payload;
	size_t payload_len;
	int s3;                      /* 1 = S3's single URI encoding; else the
					path is encoded once more (every
					other service) */
};

/* URI-encodes s as SigV4 does (all but A-Z a-z 0-9 - . _ ~; '/' kept
 * when keep_slash) into out: 0, or -1 when it does not fit. */
int sigv4_uri_encode(const char *s, int keep_slash, char *out, size_t cap);

/* The Authorization header value ("AWS4-HMAC-SHA256 Credential=...,
 * SignedHeaders=..., Signature=...") into auth: 0, or -1. */
int sigv4_sign(const struct sigv4_in *in, char *auth, size_t cap);

#endif
