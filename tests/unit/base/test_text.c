/* Unit tests for the text helpers and random passwords. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/base.h"

static void base64_decodes_with_line_breaks_and_refuses_junk_and_excess(void **state)
{
    uint8_t *out = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(base64_decode_max("a29u\nbmVr", 64, &out, &len), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(out, "konnek", 6);
    free(out);
    assert_int_equal(base64_decode_max("%%%%", 64, &out, &len), -EINVAL);
    assert_int_equal(base64_decode_max("a29ubmVr", 7, &out, &len), -E2BIG);
}

static void hex_encodes_lower_case(void **state)
{
    const unsigned char in[] = {0x00, 0xab, 0x7f, 0xff};
    char out[9];

    hex_encode(in, sizeof(in), out);
    assert_string_equal(out, "00ab7fff");
}

static void random_passwords_have_length_and_alphabet_and_differ(void **state)
{
    char a[21], b[21];

    assert_int_equal(rand_password(a, 20), 0);
    assert_int_equal(rand_password(b, 20), 0);
    assert_int_equal(strlen(a), 20);
    assert_string_not_equal(a, b);
    for (size_t i = 0; i < 20; i++) {
        assert_null(strchr("0O1lI", a[i]));
        assert_non_null(strchr("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789", a[i]));
    }
}

static void str_copy_reports_truncation(void **state)
{
    char buf[4];

    assert_int_equal(str_copy(buf, sizeof(buf), "abc"), 0);
    assert_string_equal(buf, "abc");
    assert_int_equal(str_copy(buf, sizeof(buf), "abcd"), -ENAMETOOLONG);
    assert_string_equal(buf, "abc");
}

static void addr_port_split_handles_v6_and_rejects_junk(void **state)
{
    char addr[16];
    uint16_t port = 0;

    (void)state;
    assert_int_equal(str_split_addr_port("127.0.0.1:8443", addr, sizeof(addr), &port), 0);
    assert_string_equal(addr, "127.0.0.1");
    assert_int_equal(port, 8443);
    assert_int_equal(str_split_addr_port("[::1]:0", addr, sizeof(addr), &port), 0);
    assert_string_equal(addr, "::1");
    assert_int_equal(port, 0);
    assert_int_equal(str_split_addr_port("host:65536", addr, sizeof(addr), &port), -EINVAL);
    assert_int_equal(str_split_addr_port("host", addr, sizeof(addr), &port), -EINVAL);
    assert_int_equal(str_split_addr_port(":80", addr, sizeof(addr), &port), -EINVAL);
    assert_int_equal(str_split_addr_port("[]:80", addr, sizeof(addr), &port), -EINVAL);
    assert_int_equal(str_split_addr_port("a-very-long-host-name:80", addr, sizeof(addr), &port),
                     -EINVAL);
    assert_int_equal(str_split_addr_port(NULL, addr, sizeof(addr), &port), -EINVAL);
}

static void int64_parse_rejects_junk_and_overflow(void **state)
{
    int64_t v = 0;

    assert_int_equal(str_to_int64("180", &v), 0);
    assert_int_equal(v, 180);
    assert_int_equal(str_to_int64("-3", &v), 0);
    assert_int_equal(v, -3);
    assert_int_equal(str_to_int64("", &v), -EINVAL);
    assert_int_equal(str_to_int64(" 1", &v), -EINVAL);
    assert_int_equal(str_to_int64("1x", &v), -EINVAL);
    assert_int_equal(str_to_int64("99999999999999999999", &v), -ERANGE);
}

static void constant_time_compare_finds_difference(void **state)
{
    assert_true(mem_equal_ct("abcd", "abcd", 4));
    assert_false(mem_equal_ct("abcd", "abce", 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hex_encodes_lower_case),
        cmocka_unit_test(base64_decodes_with_line_breaks_and_refuses_junk_and_excess),
        cmocka_unit_test(random_passwords_have_length_and_alphabet_and_differ),
        cmocka_unit_test(str_copy_reports_truncation),
        cmocka_unit_test(int64_parse_rejects_junk_and_overflow),
        cmocka_unit_test(addr_port_split_handles_v6_and_rejects_junk),
        cmocka_unit_test(constant_time_compare_finds_difference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
