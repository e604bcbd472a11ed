/* seal.c - AES-256-GCM through OpenSSL's libcrypto (already in every
 * process through libcurl; now a written dependency). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "seal.h"

/* Binds a sealed key to its purpose: a blob copied from another table
 * does not open here. */
static const unsigned char seal_aad[] = "llm-relay upstream key v1";

static int seal_hex(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int seal_load_key(const char *path, unsigned char key[SEAL_KEY_LEN],
		  char *err, size_t errlen)
{
	char text[130];
	struct stat st;
	ssize_t n;
	int fd, i, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(err, errlen, "master_key_file: cannot open it (%s)", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "master_key_file: not a regular file");
		goto out;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "master_key_file: readable by group or others (mode %03o; chmod 600 it)",
			 (unsigned)(st.st_mode & 0777));
		goto out;
	}
	n = read(fd, text, sizeof(text) - 1);
	if (n < 0) {
		snprintf(err, errlen, "master_key_file: cannot read it (%s)", strerror(errno));
		goto out;
	}
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
		n--;
	if (n != 2 * SEAL_KEY_LEN) {
		snprintf(err, errlen, "master_key_file: must hold 64 hex characters (32 random bytes)");
		goto out;
	}
	for (i = 0; i < SEAL_KEY_LEN; i++) {
		int hi = seal_hex(text[2 * i]), lo = seal_hex(text[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			snprintf(err, errlen, "master_key_file: must hold 64 hex characters (32 random bytes)");
			goto out;
		}
		key[i] = (unsigned char)(hi << 4 | lo);
	}
	rc = 0;
out:
	memset(text, 0, sizeof(text));
	close(fd);
	return rc;
}

long seal_close(const unsigned char key[SEAL_KEY_LEN], const char *plain, size_t n,
		unsigned char *out, size_t cap)
{
	EVP_CIPHER_CTX *c;
	int len = 0, fin = 0;
	long rc = -1;

	if (n > 65536 || cap < n + SEAL_OVERHEAD || RAND_bytes(out, 12) != 1)
		return -1;
	c = EVP_CIPHER_CTX_new();
	if (!c)
		return -1;
	if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, out) == 1 &&
	    EVP_EncryptUpdate(c, NULL, &len, seal_aad, sizeof(seal_aad) - 1) == 1 &&
	    EVP_EncryptUpdate(c, out + 12, &len, (const unsigned char *)plain, (int)n) == 1 &&
	    EVP_EncryptFinal_ex(c, out + 12 + len, &fin) == 1 &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + 12 + len + fin) == 1)
		rc = 12 + len + fin + 16;
	EVP_CIPHER_CTX_free(c);
	return rc;
}

long seal_open(const unsigned char key[SEAL_KEY_LEN], const unsigned char *in,
	       size_t n, char *out, size_t cap)
{
	EVP_CIPHER_CTX *c;
	unsigned char tag[16];
	int len = 0, fin = 0;
	size_t ct;
	long rc = -1;

	if (n < SEAL_OVERHEAD || n > 65536 + SEAL_OVERHEAD)
		return -1;
	ct = n - SEAL_OVERHEAD;
	if (ct + 1 > cap)
		return -1;
	memcpy(tag, in + n - 16, 16);
	c = EVP_CIPHER_CTX_new();
	if (!c)
		return -1;
	if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, in) == 1 &&
	    EVP_DecryptUpdate(c, NULL, &len, seal_aad, sizeof(seal_aad) - 1) == 1 &&
	    EVP_DecryptUpdate(c, (unsigned char *)out, &len, in + 12, (int)ct) == 1 &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1 &&
	    EVP_DecryptFinal_ex(c, (unsigned char *)out + len, &fin) == 1) {
		rc = len + fin;
		out[rc] = '\0';
	} else {
		memset(out, 0, cap);
	}
	EVP_CIPHER_CTX_free(c);
	return rc;
}

int seal_new_key_file(const char *path, char *err, size_t errlen)
{
	unsigned char k[SEAL_KEY_LEN];
	char hex[2 * SEAL_KEY_LEN + 2];
	int fd, i, rc = -1;

	if (RAND_bytes(k, sizeof(k)) != 1) {
		snprintf(err, errlen, "no random bytes for the master key");
		return -1;
	}
	for (i = 0; i < SEAL_KEY_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", k[i]);
	hex[2 * SEAL_KEY_LEN] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		goto out;
	}
	if (write(fd, hex, 2 * SEAL_KEY_LEN + 1) == 2 * SEAL_KEY_LEN + 1)
		rc = 0;
	else
		snprintf(err, errlen, "cannot write %s", path);
	close(fd);
out:
	memset(k, 0, sizeof(k));
	memset(hex, 0, sizeof(hex));
	return rc;
}
