/* Unit tests for bcb.c (the boot control block), history.c and the factory slot of slots.c:
 * a save that fails (a crash) at any step leaves the old or the new block, never a torn one;
 * a missing or garbage block boots slot a. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../test_tmp.h"
#include "update/update_internal.h"

struct fixture {
    char dir[64];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/konn-update-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    io_fault_clear();
    test_tmp_remove(f->dir);
    free(f);
    return 0;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char *path = fs_path_join(dir, name);
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    (void)fputs(text, fp);
    (void)fclose(fp);
    free(path);
}

static struct upd_bcb sample(void)
{
    struct upd_bcb b;

    upd_bcb_default(&b);
    b.active = UPD_SLOT_B;
    b.tries_left = 2;
    b.update_pending = true;
    b.update_from_slot = UPD_SLOT_A;
    (void)str_copy(b.update_from_version, sizeof(b.update_from_version), "1.0.0");
    (void)str_copy(b.update_to_version, sizeof(b.update_to_version), "1.1.0");
    b.fallback = true;
    b.fallback_from_slot = UPD_SLOT_B;
    (void)str_copy(b.fallback_from_version, sizeof(b.fallback_from_version), "0.9.0");
    (void)str_copy(b.fallback_reason, sizeof(b.fallback_reason), "crashed at boot (signal 11)");
    b.fallback_time_ms = 1234;
    return b;
}

static void assert_bcb_equal(const struct upd_bcb *a, const struct upd_bcb *b)
{
    assert_int_equal(a->active, b->active);
    assert_int_equal(a->tries_left, b->tries_left);
    assert_int_equal(a->good, b->good);
    assert_string_equal(a->last_failure, b->last_failure);
    assert_int_equal(a->update_pending, b->update_pending);
    assert_string_equal(a->update_to_version, b->update_to_version);
    assert_int_equal(a->fallback, b->fallback);
    assert_string_equal(a->fallback_reason, b->fallback_reason);
    assert_int_equal(a->fallback_time_ms, b->fallback_time_ms);
    assert_int_equal(a->fallback_reported, b->fallback_reported);
}

static void bcb_format_and_parse_round_trip(void **state)
{
    struct upd_bcb b = sample(), back;
    char *json = NULL;

    (void)state;
    assert_int_equal(upd_bcb_format(&b, &json), 0);
    assert_int_equal(upd_bcb_parse(json, strlen(json), &back), 0);
    assert_bcb_equal(&b, &back);
    free(json);
}

static void bcb_load_of_missing_block_boots_slot_a(void **state)
{
    struct fixture *f = *state;
    struct upd_bcb b = sample();

    assert_int_equal(upd_bcb_load(f->dir, &b), 1);
    assert_int_equal(b.active, UPD_SLOT_A);
    assert_int_equal(b.tries_left, UPD_TRIES);
    assert_false(b.good);
    assert_false(b.fallback);
}

static void bcb_load_of_garbage_boots_slot_a(void **state)
{
    static const char *const garbage[] = {
        "",
        "{",
        "\x01\x02\x03",
        "[]",
        "{\"format\": 2, \"active\": \"b\"}",
        "{\"format\": 1, \"active\": \"c\", \"tries_left\": 1, \"good\": true}",
        "{\"format\": 1, \"active\": \"b\", \"tries_left\": 9, \"good\": true}",
        "{\"format\": 1, \"active\": \"b\", \"tries_left\": 1, \"good\": \"yes\"}",
        "{\"format\": 1, \"active\": \"b\", \"tries_left\": 1, \"good\": true, \"fallback\": 3}",
        "{\"format\": 1, \"active\": \"b\", \"tries_left\": 1, \"good\": true, \"active\": \"a\"}"};
    struct fixture *f = *state;

    for (size_t i = 0; i < ARRAY_SIZE(garbage); i++) {
        struct upd_bcb b = sample();

        write_file(f->dir, "boot.json", garbage[i]);
        assert_int_equal(upd_bcb_load(f->dir, &b), 1);
        assert_int_equal(b.active, UPD_SLOT_A);
        assert_int_equal(b.tries_left, UPD_TRIES);
    }
}

static void bcb_load_reads_a_saved_block(void **state)
{
    struct fixture *f = *state;
    struct upd_bcb b = sample(), back;

    assert_int_equal(upd_bcb_save(f->dir, &b), 0);
    assert_int_equal(upd_bcb_load(f->dir, &back), 0);
    assert_bcb_equal(&b, &back);
}

/* A crash at each step of a save is a save that fails at that step: the old or the new block
 * is read, and which one only depends on whether the rename happened. */
static void bcb_save_failing_at_every_step_leaves_old_or_new(void **state)
{
    static const enum io_op ops[] = {IO_OP_OPEN, IO_OP_PWRITE, IO_OP_FSYNC, IO_OP_RENAME};
    struct fixture *f = *state;
    struct upd_bcb old_b, new_b = sample();
    uint64_t before[IO_OP_MAX], calls[IO_OP_MAX];
    size_t failures = 0;

    upd_bcb_default(&old_b);
    old_b.good = true;
    assert_int_equal(upd_bcb_save(f->dir, &old_b), 0);
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
        before[ops[i]] = io_calls(ops[i]);
    assert_int_equal(upd_bcb_save(f->dir, &new_b), 0);
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
        calls[ops[i]] = io_calls(ops[i]) - before[ops[i]];
    assert_int_equal(calls[IO_OP_RENAME], 1);
    assert_int_equal(calls[IO_OP_FSYNC], 2); /* the file, then the directory */
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
        for (uint64_t n = 1; n <= calls[ops[i]]; n++) {
            struct upd_bcb back;
            bool renamed;
            int r;

            assert_int_equal(upd_bcb_save(f->dir, &old_b), 0);
            io_fault_at(ops[i], n, EIO);
            r = upd_bcb_save(f->dir, &new_b);
            io_fault_clear();
            assert_int_equal(r, -EIO);
            failures++;
            assert_int_equal(upd_bcb_load(f->dir, &back), 0);
            /* Only the directory's fsync comes after the rename. */
            renamed = ops[i] == IO_OP_FSYNC && n == 2;
            assert_bcb_equal(renamed ? &new_b : &old_b, &back);
        }
    }
    assert_int_equal(failures, 5);
}

/* A crash in the middle of writing the temporary file leaves it torn: the block is intact. */
static void bcb_torn_temporary_file_is_ignored(void **state)
{
    struct fixture *f = *state;
    struct upd_bcb b = sample(), back;

    assert_int_equal(upd_bcb_save(f->dir, &b), 0);
    write_file(f->dir, "boot.json.tmp", "{\"format\": 1, \"act");
    assert_int_equal(upd_bcb_load(f->dir, &back), 0);
    assert_bcb_equal(&b, &back);
    assert_int_equal(upd_bcb_save(f->dir, &b), 0);
}

static void history_skips_a_torn_last_line(void **state)
{
    struct fixture *f = *state;
    char *fw = upd_fw_dir(f->dir), *json = NULL, *path;
    FILE *fp;

    assert_int_equal(upd_history_append(f->dir, &(struct upd_history_entry){.time_ms = 1000,
                                                                            .action = "install",
                                                                            .to_version = "1.1.0",
                                                                            .result = "ok"}),
                     0);
    assert_int_equal(
        upd_history_append(f->dir, &(struct upd_history_entry){.time_ms = 2000,
                                                               .action = "refused",
                                                               .result = "refused",
                                                               .code = 4183,
                                                               .message = "payloads: 'x' differs"}),
        0);
    path = fs_path_join(fw, "history.jsonl");
    fp = fopen(path, "a");
    assert_non_null(fp);
    (void)fputs("{\"action\": \"comm", fp);
    (void)fclose(fp);
    assert_int_equal(upd_history_read(f->dir, 10, &json), 0);
    assert_non_null(strstr(json, "\"install\""));
    assert_non_null(strstr(json, "\"code\":4183"));
    assert_null(strstr(json, "comm\""));
    free(json);
    /* At most max entries, the newest. */
    assert_int_equal(upd_history_read(f->dir, 1, &json), 0);
    assert_null(strstr(json, "\"install\""));
    assert_non_null(strstr(json, "\"refused\""));
    free(json);
    free(path);
    free(fw);
}

static void factory_install_makes_a_complete_slot_a_once(void **state)
{
    struct fixture *f = *state;
    char *fw = upd_fw_dir(f->dir);
    char *core = NULL, *staging = NULL;
    struct bundle_manifest *m = NULL;

    assert_int_equal(fs_mkdir_p(fw, 0755), 0);
    /* What a killed install leaves is removed at boot. */
    staging = upd__staging_dir(fw, UPD_SLOT_B);
    assert_int_equal(fs_mkdir_p(staging, 0755), 0);
    assert_int_equal(upd_slot_install_factory(fw, "/proc/self/exe"), 1);
    assert_true(upd_slot_is_complete(fw, UPD_SLOT_A));
    assert_false(upd_slot_is_complete(fw, UPD_SLOT_B));
    assert_int_equal(upd_slot_manifest_read(fw, UPD_SLOT_A, &m), 0);
    assert_string_equal(m->fw_version, KONN_VERSION);
    assert_string_equal(m->product_type_version, KONN_PRODUCT_TYPE_VERSION);
    assert_true(bundle_manifest_has_feature(m, "VSDM"));
    assert_int_equal(m->n_payloads, 1);
    assert_string_equal(m->payloads[0].path, "core/konnektord");
    assert_int_equal(asprintf(&core, "%s/slot-a/core/konnektord", fw) > 0, 1);
    assert_int_equal(access(core, X_OK), 0);
    assert_int_equal(upd_slot_install_factory(fw, "/proc/self/exe"), 0);
    assert_int_equal(upd_slot_manifest_read(fw, UPD_SLOT_B, &m), -ENOENT);
    assert_true(fs_exists(staging));
    upd_slots_cleanup(fw);
    assert_false(fs_exists(staging));
    m = bundle_manifest_free(m);
    free(staging);
    free(core);
    free(fw);
}

/* A factory install that fails at any write leaves no slot a, and the next start retries. */
static void factory_install_failing_leaves_no_slot(void **state)
{
    struct fixture *f = *state;
    char *fw = upd_fw_dir(f->dir);

    assert_int_equal(fs_mkdir_p(fw, 0755), 0);
    io_fault_at(IO_OP_RENAME, 1, EIO);
    assert_int_equal(upd_slot_install_factory(fw, "/proc/self/exe"), -EIO);
    io_fault_clear();
    assert_false(upd_slot_is_complete(fw, UPD_SLOT_A));
    io_fault_at(IO_OP_PWRITE, 3, ENOSPC);
    assert_int_equal(upd_slot_install_factory(fw, "/proc/self/exe"), -ENOSPC);
    io_fault_clear();
    assert_false(upd_slot_is_complete(fw, UPD_SLOT_A));
    assert_int_equal(upd_slot_install_factory(fw, "/proc/self/exe"), 1);
    assert_true(upd_slot_is_complete(fw, UPD_SLOT_A));
    free(fw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bcb_format_and_parse_round_trip),
        cmocka_unit_test_setup_teardown(bcb_load_of_missing_block_boots_slot_a, setup, teardown),
        cmocka_unit_test_setup_teardown(bcb_load_of_garbage_boots_slot_a, setup, teardown),
        cmocka_unit_test_setup_teardown(bcb_load_reads_a_saved_block, setup, teardown),
        cmocka_unit_test_setup_teardown(bcb_save_failing_at_every_step_leaves_old_or_new, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(bcb_torn_temporary_file_is_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(history_skips_a_torn_last_line, setup, teardown),
        cmocka_unit_test_setup_teardown(factory_install_makes_a_complete_slot_a_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(factory_install_failing_leaves_no_slot, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
