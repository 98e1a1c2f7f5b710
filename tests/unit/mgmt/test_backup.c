/* Unit tests for the configuration backup file (backup.c, docs/backup-format.md): a round
 * trip, and every way a file can be wrong: passphrase, ciphertext, header, signature, length. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mgmt/mgmt_internal.h"

/* The smallest count a reader accepts: the tests run many derivations. */
#define ITER 10000u
#define PASS "passphrase-of-24-chars!!"

static const char payload[] = "{\"format\":\"konnektord-config-backup\",\"version\":1}";

struct fixture {
    struct mgmt_identity *id;
    uint8_t *file;
    size_t len;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(mgmt_identity_ephemeral("backup-test", &f->id), 0);
    assert_int_equal(mgmt__backup_seal(payload, strlen(payload), f->id->key, f->id->cert, PASS,
                                       ITER, &f->file, &f->len),
                     0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    free(f->file);
    mgmt_identity_free(f->id);
    free(f);
    return 0;
}

static int open_file(const uint8_t *file, size_t len, const char *pass,
                     struct mgmt__backup_signer *ret_signer, char **ret_json)
{
    struct mgmt__backup_signer s;
    char *json = NULL;
    size_t json_len = 0;
    int r = mgmt__backup_open(file, len, pass, MGMT__BACKUP_ITERATIONS_MAX, &json, &json_len, &s);

    if (r == 0 && ret_signer)
        *ret_signer = s;
    if (r == 0 && ret_json)
        *ret_json = json;
    else
        free(json);
    return r;
}

static void round_trip_returns_the_payload_and_names_the_signer(void **state)
{
    struct fixture *f = *state;
    struct mgmt__backup_signer s;
    char *json = NULL;

    assert_memory_equal(f->file, "KONNBAK1", 8);
    assert_int_equal(open_file(f->file, f->len, PASS, &s, &json), 0);
    assert_string_equal(json, payload);
    assert_non_null(strstr(s.subject, "CN="));
    assert_string_equal(s.fingerprint, mgmt_identity_fingerprint(f->id));
    assert_true(s.signed_ms > 0);
    free(json);
}

static void two_seals_of_one_payload_differ(void **state)
{
    struct fixture *f = *state;
    uint8_t *other = NULL;
    size_t len = 0;

    /* A fresh salt and IV each time: equal configurations give unrelated files. */
    assert_int_equal(mgmt__backup_seal(payload, strlen(payload), f->id->key, f->id->cert, PASS,
                                       ITER, &other, &len),
                     0);
    assert_true(len > 64 && f->len > 64);
    assert_memory_not_equal(other + 24, f->file + 24, 28);
    free(other);
}

static void wrong_passphrase_is_key_rejected(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(open_file(f->file, f->len, "passphrase-of-24-chars!?", NULL, NULL),
                     -EKEYREJECTED);
}

static void changed_ciphertext_tag_or_header_is_rejected(void **state)
{
    struct fixture *f = *state;
    size_t where[] = {64, f->len / 2, f->len - 17, f->len - 1, 30 /* salt */, 45 /* IV */};

    for (size_t i = 0; i < ARRAY_SIZE(where); i++) {
        f->file[where[i]] ^= 0x01;
        assert_int_equal(open_file(f->file, f->len, PASS, NULL, NULL), -EKEYREJECTED);
        f->file[where[i]] ^= 0x01;
    }
    /* Header fields a reader checks before any work. */
    f->file[9] = 2; /* version */
    assert_int_equal(open_file(f->file, f->len, PASS, NULL, NULL), -EBADMSG);
    f->file[9] = 1;
    f->file[16] = 7; /* KDF id */
    assert_int_equal(open_file(f->file, f->len, PASS, NULL, NULL), -EBADMSG);
    f->file[16] = 1;
    assert_int_equal(open_file(f->file, f->len, PASS, NULL, NULL), 0);
}

static void changed_signature_is_a_protocol_error(void **state)
{
    struct fixture *f = *state;
    uint8_t *der = NULL, *file = NULL;
    size_t der_len = 0, len = 0;

    assert_int_equal(
        mgmt__backup_sign(payload, strlen(payload), f->id->key, f->id->cert, &der, &der_len), 0);
    /* The ECDSA signature's last byte is the DER's last byte. */
    der[der_len - 1] ^= 0x01;
    assert_int_equal(mgmt__backup_encrypt(der, der_len, PASS, ITER, &file, &len), 0);
    assert_int_equal(open_file(file, len, PASS, NULL, NULL), -EPROTO);
    free(file);
    free(der);
}

static void changed_signed_content_is_a_protocol_error(void **state)
{
    struct fixture *f = *state;
    uint8_t *der = NULL, *file = NULL;
    size_t der_len = 0, len = 0;
    uint8_t *hit;

    assert_int_equal(
        mgmt__backup_sign(payload, strlen(payload), f->id->key, f->id->cert, &der, &der_len), 0);
    hit = memmem(der, der_len, "version", 7);
    assert_non_null(hit);
    hit[0] = 'V';
    assert_int_equal(mgmt__backup_encrypt(der, der_len, PASS, ITER, &file, &len), 0);
    assert_int_equal(open_file(file, len, PASS, NULL, NULL), -EPROTO);
    free(file);
    free(der);
}

static void truncated_file_is_malformed(void **state)
{
    struct fixture *f = *state;
    size_t lens[] = {0, 7, 8, 63, 64, 79, 80, f->len - 1};

    for (size_t i = 0; i < ARRAY_SIZE(lens); i++)
        assert_int_equal(open_file(f->file, lens[i], PASS, NULL, NULL), -EBADMSG);
}

static void huge_declared_lengths_and_work_are_refused_before_use(void **state)
{
    struct fixture *f = *state;
    uint8_t saved[8];

    memcpy(saved, f->file + 56, 8);
    memset(f->file + 56, 0xff, 8); /* ciphertext length 2^64 - 1 */
    assert_int_equal(open_file(f->file, f->len, PASS, NULL, NULL), -EBADMSG);
    memset(f->file + 56, 0, 8);
    f->file[61] = 0x10; /* 1 MiB: more than the file holds */
    assert_int_equal(open_file(f->file, f->len, PASS, NULL, NULL), -EBADMSG);
    memcpy(f->file + 56, saved, 8);
    /* 4 billion iterations would keep a worker busy for hours. */
    memset(f->file + 20, 0xff, 4);
    assert_int_equal(open_file(f->file, f->len, PASS, NULL, NULL), -EBADMSG);
    memset(f->file + 20, 0, 4);
    assert_int_equal(open_file(f->file, f->len, PASS, NULL, NULL), -EBADMSG);
}

/* docs/backup-format.md is a contract: a file sealed by another implementation of it (Python's
 * cryptography and openssl cms, passphrase "fuzz") opens. */
static void golden_file_of_the_documented_format_opens(void **state)
{
    struct mgmt__backup_signer s;
    char *file = NULL, *want = NULL, *json = NULL;
    size_t len = 0, want_len = 0;

    assert_int_equal(
        fs_read_all(KONN_SOURCE_DIR "/tests/data/backup/golden.kbak", 1 << 20, &file, &len), 0);
    assert_int_equal(fs_read_all(KONN_SOURCE_DIR "/tests/data/backup/golden-payload.json", 1 << 20,
                                 &want, &want_len),
                     0);
    assert_int_equal(open_file((const uint8_t *)file, len, "fuzz", &s, &json), 0);
    assert_string_equal(json, want);
    assert_string_equal(s.subject, "/CN=konnektor fuzz seed");
    assert_true(s.signed_ms > 0);
    free(json);
    free(want);
    free(file);
}

static void garbage_is_no_signed_data(void **state)
{
    uint8_t junk[200] = {0x30, 0x82, 0x00, 0xc4};
    char *json = NULL;
    size_t len = 0;
    struct mgmt__backup_signer s;

    assert_int_equal(mgmt__backup_verify(junk, sizeof(junk), &json, &len, &s), -EBADMSG);
    assert_null(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip_returns_the_payload_and_names_the_signer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(two_seals_of_one_payload_differ, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_passphrase_is_key_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(changed_ciphertext_tag_or_header_is_rejected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(changed_signature_is_a_protocol_error, setup, teardown),
        cmocka_unit_test_setup_teardown(changed_signed_content_is_a_protocol_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(truncated_file_is_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(huge_declared_lengths_and_work_are_refused_before_use,
                                        setup, teardown),
        cmocka_unit_test(golden_file_of_the_documented_format_opens),
        cmocka_unit_test(garbage_is_no_signed_data),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
