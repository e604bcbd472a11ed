/* test_auth_models.c - auth_set_models2: a key's model list met with its
 * user's (issue 25.2: a key's list only narrows its user's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "auth.h"
#include "allow.h"

/* The list in force for key list k and user list us (NULL = no list). */
static const char *meet(struct auth_user *u, const char *k, const char *us)
{
	memset(u, 0, sizeof(*u));
	auth_set_models2(u, k, k ? strlen(k) : 0, us, us ? strlen(us) : 0);
	return u->models;
}

static void test_meet(void **state)
{
	struct auth_user u;

	(void)state;
	meet(&u, NULL, NULL);
	assert_int_equal(u.models_set, 0);
	assert_string_equal(meet(&u, "a,b", NULL), "a,b");
	assert_int_equal(u.models_set, 1);
	assert_string_equal(meet(&u, NULL, "a"), "a");
	assert_string_equal(meet(&u, "gpt-4-expensive,claude-opus", "MiniMax-M2.7"), "");
	assert_int_equal(u.models_set, 1);
	assert_false(allow_model(u.models, u.models_set, "gpt-4-expensive"));
	assert_false(allow_model(u.models, u.models_set, "MiniMax-M2.7"));
	assert_string_equal(meet(&u, "a, b ,c", "c,b,x"), "b,c");
	assert_string_equal(meet(&u, "*", "a,b"), "a,b");
	assert_string_equal(meet(&u, "a,b", "*"), "a,b");
	assert_string_equal(meet(&u, "*", "*"), "*");
	assert_string_equal(meet(&u, "a,a,b", "a,b,b"), "a,b");
}

static void test_too_long(void **state)
{
	struct auth_user u;
	char big[sizeof(u.models) + 10];

	(void)state;
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_string_equal(meet(&u, big, "a"), "");
	assert_int_equal(u.models_set, 1);
	assert_string_equal(meet(&u, "a", big), "");
	assert_int_equal(u.models_set, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_meet),
		cmocka_unit_test(test_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
