/* Unit tests for manifest.c: payload paths, every manifest field's check, firmware-group
 * documents. */
#include "bundle_test.h"

#include <jansson.h>

static const char good_manifest[] =
    "{\"format\": 1, \"product_vendor_id\": \"KONN\", \"product_code\": \"KONNEKTD\", "
    "\"product_name\": \"konnektord\", \"hw_version\": \"1.0.0\", \"fw_version\": \"3.5.0\", "
    "\"product_type_version\": \"3.5.0\", \"created\": \"2026-11-29\", \"fw_priority\": "
    "\"Kritisch\", \"deadline\": \"2026-12-31\", \"release_notes\": \"\", \"features\": "
    "[\"VSDM\", \"KOM-LE\"], \"payloads\": [{\"path\": \"core/konnektord\", \"size\": 9, "
    "\"sha256\": \"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\", "
    "\"executable\": true}]}";

static void safe_and_unsafe_paths(void **state)
{
    static const char *const safe[] = {"a",   "core/konnektord", "a.b/c-d_e", "..a", "a..",
                                       "...", ".hidden"};
    static const struct {
        const char *path, *why;
    } unsafe[] = {
        {"", "empty"},
        {"/etc/passwd", "absolute"},
        {"..", "component '..'"},
        {"../x", "component '..'"},
        {"a/../b", "component '..'"},
        {"a/..", "component '..'"},
        {".", "component '.'"},
        {"a/./b", "component '.'"},
        {"a//b", "empty component"},
        {"a/", "ends with '/'"},
        {"a\\b", "character outside"},
        {"a b", "character outside"},
        {"caf\xc3\xa9", "character outside"},
        {"a\nb", "character outside"},
    };
    char longest[BUNDLE_PATH_MAX + 2];
    const char *why = NULL;

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(safe); i++)
        assert_true(bundle_path_is_safe(safe[i], NULL));
    for (size_t i = 0; i < ARRAY_SIZE(unsafe); i++) {
        assert_false(bundle_path_is_safe(unsafe[i].path, &why));
        if (!strstr(why, unsafe[i].why))
            fail_msg("'%s': '%s' does not say '%s'", unsafe[i].path, why, unsafe[i].why);
    }
    memset(longest, 'a', sizeof(longest));
    longest[BUNDLE_PATH_MAX] = '\0';
    assert_true(bundle_path_is_safe(longest, NULL));
    longest[BUNDLE_PATH_MAX] = 'a';
    longest[BUNDLE_PATH_MAX + 1] = '\0';
    assert_false(bundle_path_is_safe(longest, &why));
}

static void good_manifest_parses(void **state)
{
    struct bundle_manifest *m = NULL;
    char err[256] = "";

    (void)state;
    assert_int_equal(
        bundle_manifest_parse(good_manifest, strlen(good_manifest), &m, err, sizeof(err)), 0);
    assert_string_equal(m->product_vendor_id, "KONN");
    assert_true(m->critical);
    assert_string_equal(m->deadline, "2026-12-31");
    assert_int_equal(m->n_features, 2);
    assert_true(bundle_manifest_has_feature(m, "KOM-LE"));
    assert_int_equal(m->payloads[0].sha256[1], 0x11);
    assert_int_equal(m->payloads[0].size, 9);
    bundle_manifest_free(m);
}

/* Sets key (in payloads[0] when in_payload) to the JSON value (NULL: deletes it), parses,
 * and expects -EBADMSG with needle in the message. */
static void expect_refused(const char *key, const char *value, bool in_payload, const char *needle)
{
    json_t *root = json_loads(good_manifest, 0, NULL);
    json_t *obj = in_payload ? json_array_get(json_object_get(root, "payloads"), 0) : root;
    struct bundle_manifest *m = NULL;
    char err[256] = "";
    char *text;
    int r;

    if (value)
        assert_int_equal(json_object_set_new(
                             obj, key, json_loads(value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)),
                         0);
    else
        assert_int_equal(json_object_del(obj, key), 0);
    text = json_dumps(root, 0);
    r = bundle_manifest_parse(text, strlen(text), &m, err, sizeof(err));
    if (r != -EBADMSG || !strstr(err, needle))
        fail_msg("%s=%s: got %d '%s', expected '%s'", key, value ? value : "(deleted)", r, err,
                 needle);
    assert_null(m);
    free(text);
    json_decref(root);
}

static void every_field_is_checked(void **state)
{
    (void)state;
    expect_refused("format", "2", false, "'format' must be 1");
    expect_refused("format", NULL, false, "'format' is missing");
    expect_refused("product_vendor_id", "\"TOOLONG\"", false, "1 to 5 characters");
    expect_refused("product_vendor_id", "\"K-N\"", false, "only A-Z");
    expect_refused("product_code", "7", false, "'product_code' is not a string");
    expect_refused("product_name", "\"a\\u0000b\"", false, "NUL");
    expect_refused("product_name", "\"\"", false, "1 to 64");
    expect_refused("hw_version", "\"1.0\"", false, "'hw_version' is not a version");
    expect_refused("fw_version", "\"1.0.0.0\"", false, "'fw_version'");
    expect_refused("fw_version", "\"1.0000.0\"", false, "'fw_version'");
    expect_refused("product_type_version", NULL, false, "'product_type_version' is missing");
    expect_refused("created", "\"2026-02-30\"", false, "'created' is not a date");
    expect_refused("created", "\"2025-02-29\"", false, "'created' is not a date");
    expect_refused("fw_priority", "\"Hoch\"", false, "'Normal' or 'Kritisch'");
    expect_refused("deadline", NULL, false, "'deadline' is missing");
    expect_refused("deadline", "\"tomorrow\"", false, "'deadline' is not a date");
    expect_refused("release_notes", "null", false, "'release_notes' is not a string");
    expect_refused("features", "\"VSDM\"", false, "'features' is not an array");
    expect_refused("features", "[\"VSDM\", \"VSDM\"]", false, "listed twice");
    expect_refused("features", "[\"VS DM\"]", false, "features[0]");
    expect_refused("payloads", "{}", false, "'payloads' is not an array");
    expect_refused("extra", "1", false, "unknown field 'extra'");
    expect_refused("path", "\"../x\"", true, "unsafe");
    expect_refused("size", "-1", true, "outside");
    expect_refused("size", "1.5", true, "'size' is not an integer");
    expect_refused("sha256", "\"00\"", true, "64 to 64");
    expect_refused("sha256", "\"00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\"",
                   true, "lower-case hex");
    expect_refused("executable", "1", true, "'executable' is not true or false");
    expect_refused("mode", "\"0777\"", true, "unknown field 'mode'");
}

static void duplicate_and_nested_paths_are_refused(void **state)
{
    static const char *const pairs[][3] = {
        {"a/b", "a/b", "listed twice"},
        {"a", "a/b", "would be a directory"},
        {"a/b/c", "a/b", "would be a directory"},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(pairs); i++) {
        json_t *root = json_loads(good_manifest, 0, NULL);
        json_t *arr = json_object_get(root, "payloads");
        json_t *second = json_deep_copy(json_array_get(arr, 0));
        struct bundle_manifest *m = NULL;
        char err[256] = "";
        char *text;

        json_object_set_new(json_array_get(arr, 0), "path", json_string(pairs[i][0]));
        json_object_set_new(second, "path", json_string(pairs[i][1]));
        json_array_append_new(arr, second);
        text = json_dumps(root, 0);
        assert_int_equal(bundle_manifest_parse(text, strlen(text), &m, err, sizeof(err)), -EBADMSG);
        assert_non_null(strstr(err, pairs[i][2]));
        free(text);
        json_decref(root);
    }
}

static void malformed_json_is_refused(void **state)
{
    static const char *const docs[] = {
        "", "[]", "{", "{\"format\": 1, \"format\": 1}", "null", "\"manifest\"",
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(docs); i++) {
        struct bundle_manifest *m = NULL;
        char err[256] = "";

        assert_int_equal(bundle_manifest_parse(docs[i], strlen(docs[i]), &m, err, sizeof(err)),
                         -EBADMSG);
        assert_true(err[0] != '\0');
    }
}

static void group_documents_are_checked(void **state)
{
    const char *good = "{\"format\": 1, \"firmware_group_id\": \"G1\", \"product_vendor_id\": "
                       "\"KONN\", \"product_code\": \"KONNEKTD\", \"hw_version\": \"1.0.0\", "
                       "\"firmware_group_version\": \"12345\", \"created\": \"2026-11-01\", "
                       "\"release_notes\": \"\", \"fw_versions\": [\"3.4.0\", \"3.5.0\"]}";
    const char *empty = "{\"format\": 1, \"firmware_group_id\": \"G1\", \"product_vendor_id\": "
                        "\"KONN\", \"product_code\": \"KONNEKTD\", \"hw_version\": \"1.0.0\", "
                        "\"firmware_group_version\": \"1\", \"created\": \"2026-11-01\", "
                        "\"release_notes\": \"\", \"fw_versions\": []}";
    const char *long_version =
        "{\"format\": 1, \"firmware_group_id\": \"G1\", \"product_vendor_id\": \"KONN\", "
        "\"product_code\": \"KONNEKTD\", \"hw_version\": \"1.0.0\", \"firmware_group_version\": "
        "\"123456\", \"created\": \"2026-11-01\", \"release_notes\": \"\", \"fw_versions\": "
        "[\"3.4.0\"]}";
    struct bundle_fwgroup *g = NULL;
    char err[256] = "";

    (void)state;
    assert_int_equal(bundle_fwgroup_parse(good, strlen(good), &g, err, sizeof(err)), 0);
    assert_int_equal(g->n_fw_versions, 2);
    assert_true(bundle_fwgroup_has_version(g, "3.5.0"));
    assert_false(bundle_fwgroup_has_version(g, "3.5.1"));
    bundle_fwgroup_free(g);
    assert_int_equal(bundle_fwgroup_parse(empty, strlen(empty), &g, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "1 to 999 versions"));
    assert_int_equal(bundle_fwgroup_parse(long_version, strlen(long_version), &g, err, sizeof(err)),
                     -EBADMSG);
    assert_non_null(strstr(err, "firmware_group_version"));
}

static void check_names_are_stable(void **state)
{
    (void)state;
    assert_string_equal(bundle_check_to_string(BUNDLE_CHECK_ARCHIVE), "archive");
    assert_string_equal(bundle_check_to_string(BUNDLE_CHECK_KEY_USAGE), "key-usage");
    assert_string_equal(bundle_check_to_string(BUNDLE_CHECK_FIRMWARE_GROUP), "firmware-group");
    assert_string_equal(bundle_check_to_string(BUNDLE_CHECK_PAYLOADS), "payloads");
    assert_string_equal(bundle_check_to_string(BUNDLE_CHECK_MAX), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(safe_and_unsafe_paths),
        cmocka_unit_test(good_manifest_parses),
        cmocka_unit_test(every_field_is_checked),
        cmocka_unit_test(duplicate_and_nested_paths_are_refused),
        cmocka_unit_test(malformed_json_is_refused),
        cmocka_unit_test(group_documents_are_checked),
        cmocka_unit_test(check_names_are_stable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
