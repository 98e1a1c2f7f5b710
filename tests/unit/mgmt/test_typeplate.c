/* Unit tests for the type plate (typeplate.c): made once, never rewritten, private, and a
 * plate without a reset credential is refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mgmt/mgmt_internal.h"
#include "../test_tmp.h"

static void first_load_creates_a_private_plate_and_later_loads_read_it(void **state)
{
    char dir[] = "/tmp/konn-plate-XXXXXX";
    struct mgmt_type_plate a, b;
    char *path;
    struct stat st;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(mgmt__type_plate_load(dir, &a), 0);
    assert_string_equal(a.product, "konnektord");
    assert_int_equal(strlen(a.serial), 16);
    assert_memory_equal(a.serial, "KON-", 4);
    assert_int_equal(strlen(a.reset_credential), 24);
    path = fs_path_join(dir, "identity/type-plate.txt");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Never rewritten: the credential on the label stays valid. */
    assert_int_equal(mgmt__type_plate_load(dir, &b), 0);
    assert_string_equal(a.serial, b.serial);
    assert_string_equal(a.reset_credential, b.reset_credential);
    free(path);
    test_tmp_remove(dir);
}

static void plate_without_a_credential_is_refused_not_replaced(void **state)
{
    char dir[] = "/tmp/konn-plate-XXXXXX";
    static const char text[] = "Product: konnektord\nSerial: KON-1\n";
    struct mgmt_type_plate p;
    char *sub, *path, *data = NULL;
    size_t len = 0;

    assert_non_null(mkdtemp(dir));
    sub = fs_path_join(dir, "identity");
    path = fs_path_join(dir, "identity/type-plate.txt");
    assert_int_equal(fs_mkdir_p(sub, 0700), 0);
    assert_int_equal(fs_write_atomic(path, text, strlen(text), 0600), 0);
    assert_int_equal(mgmt__type_plate_load(dir, &p), -EBADMSG);
    assert_int_equal(fs_read_all(path, 4096, &data, &len), 0);
    assert_string_equal(data, text);
    free(data);
    free(path);
    free(sub);
    test_tmp_remove(dir);
}

static void values_are_trimmed_and_comments_ignored(void **state)
{
    char dir[] = "/tmp/konn-plate-XXXXXX";
    static const char text[] = "# Reset-Credential: not-this\n"
                               "Product:   konnektord  \r\n"
                               "Serial: KON-ABC\n"
                               "Reset-Credential:  secret-credential-1234 \n";
    struct mgmt_type_plate p;
    char *sub, *path;

    assert_non_null(mkdtemp(dir));
    sub = fs_path_join(dir, "identity");
    path = fs_path_join(dir, "identity/type-plate.txt");
    assert_int_equal(fs_mkdir_p(sub, 0700), 0);
    assert_int_equal(fs_write_atomic(path, text, strlen(text), 0600), 0);
    assert_int_equal(mgmt__type_plate_load(dir, &p), 0);
    assert_string_equal(p.product, "konnektord");
    assert_string_equal(p.serial, "KON-ABC");
    assert_string_equal(p.reset_credential, "secret-credential-1234");
    free(path);
    free(sub);
    test_tmp_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_load_creates_a_private_plate_and_later_loads_read_it),
        cmocka_unit_test(plate_without_a_credential_is_refused_not_replaced),
        cmocka_unit_test(values_are_trimmed_and_comments_ignored),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
