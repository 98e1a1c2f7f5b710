/* Unit tests for src/services/context.c: TUC_KON_000, every code it answers with, the order
 * of the checks, local and remote terminals, mandant-wide evaluation and the SM-B rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "services_test.h"

static struct practice P;

static int group_setup(void **state)
{
    int r = practice_make(&P, true);

    if (r < 0)
        fprintf(stderr, "practice_make: %s\n", strerror(-r));
    return r;
}

static int group_teardown(void **state)
{
    practice_done(&P);
    return 0;
}

static const char *handle_of(const char *card_name)
{
    const struct cards_card *card = cards_card_find(P.cards, card_name);

    assert_non_null(card);
    assert_true(card->ct_id[0] != '\0');
    return card->handle;
}

static int check(const struct soap_context *ctx, const char *handle, const char *ct, unsigned flags)
{
    return services__context_check(P.store, P.cards, ctx, handle, ct, flags);
}

static void complete_known_context_passes(void **state)
{
    struct soap_context ctx = practice_ctx("m1", "cs1", "ws1", NULL);

    assert_int_equal(check(&ctx, NULL, NULL, 0), 0);
    assert_int_equal(check(&ctx, NULL, "ct1", 0), 0);
    assert_int_equal(check(&ctx, handle_of("egk1"), NULL, 0), 0);
}

static void missing_mandatory_field_is_4021(void **state)
{
    struct soap_context absent = {0};
    struct soap_context no_m = practice_ctx("", "cs1", "ws1", NULL);
    struct soap_context no_cs = practice_ctx("m1", "", "ws1", NULL);
    struct soap_context no_wp = practice_ctx("m1", "cs1", "", NULL);

    assert_int_equal(check(NULL, NULL, NULL, 0), 4021);
    assert_int_equal(check(&absent, NULL, NULL, 0), 4021);
    assert_int_equal(check(&no_m, NULL, NULL, 0), 4021);
    assert_int_equal(check(&no_cs, NULL, NULL, 0), 4021);
    assert_int_equal(check(&no_wp, NULL, NULL, 0), 4021);
}

static void unknown_ids_are_4004_4005_4006(void **state)
{
    struct soap_context m = practice_ctx("mX", "cs1", "ws1", NULL);
    struct soap_context cs = practice_ctx("m1", "csX", "ws1", NULL);
    struct soap_context wp = practice_ctx("m1", "cs1", "wsX", NULL);

    assert_int_equal(check(&m, NULL, NULL, 0), 4004);
    assert_int_equal(check(&cs, NULL, NULL, 0), 4005);
    assert_int_equal(check(&wp, NULL, NULL, 0), 4006);
}

static void entities_of_another_mandant_are_4010_4011(void **state)
{
    struct soap_context cs_other = practice_ctx("m1", "cs2", "ws1", NULL);
    struct soap_context cs_none = practice_ctx("m1", "cs3", "ws1", NULL);
    struct soap_context wp_other = practice_ctx("m1", "cs1", "ws3", NULL);
    struct soap_context wp_none = practice_ctx("m1", "cs1", "ws4", NULL);

    assert_int_equal(check(&cs_other, NULL, NULL, 0), 4010);
    assert_int_equal(check(&cs_none, NULL, NULL, 0), 4010);
    assert_int_equal(check(&wp_other, NULL, NULL, 0), 4011);
    assert_int_equal(check(&wp_none, NULL, NULL, 0), 4011);
}

static void unknown_terminal_is_4007(void **state)
{
    struct soap_context ctx = practice_ctx("m1", "cs1", "ws1", NULL);

    assert_int_equal(check(&ctx, NULL, "ctX", 0), 4007);
    assert_int_equal(check(&ctx, NULL, "ctX", SERVICES_CTX_ALL_WORKPLACES), 4007);
}

static void terminal_of_other_workplace_is_4012_unless_mandant_wide(void **state)
{
    struct soap_context ws1 = practice_ctx("m1", "cs1", "ws1", NULL);
    struct soap_context ws2 = practice_ctx("m1", "cs1", "ws2", NULL);

    /* ct2 is local to ws2, ct3 remote to ws1, ct4 to no workplace. */
    assert_int_equal(check(&ws1, NULL, "ct2", 0), 4012);
    assert_int_equal(check(&ws1, NULL, "ct2", SERVICES_CTX_ALL_WORKPLACES), 0);
    assert_int_equal(check(&ws1, NULL, "ct3", 0), 0);
    assert_int_equal(check(&ws2, NULL, "ct3", 0), 4012);
    assert_int_equal(check(&ws2, NULL, "ct3", SERVICES_CTX_ALL_WORKPLACES), 0);
    assert_int_equal(check(&ws1, NULL, "ct4", SERVICES_CTX_ALL_WORKPLACES), 4012);
}

static void terminal_of_another_mandant_stays_4012_mandant_wide(void **state)
{
    struct soap_context m2 = practice_ctx("m2", "cs2", "ws3", NULL);

    assert_int_equal(check(&m2, NULL, "ct1", 0), 4012);
    assert_int_equal(check(&m2, NULL, "ct1", SERVICES_CTX_ALL_WORKPLACES), 4012);
}

static void unknown_card_handle_is_4008(void **state)
{
    struct soap_context ctx = practice_ctx("m1", "cs1", "ws1", NULL);

    assert_int_equal(check(&ctx, "00000000000000000000000000000000", NULL, 0), 4008);
    assert_int_equal(check(&ctx, "", NULL, 0), 4008);
}

static void card_in_unreachable_terminal_is_4012(void **state)
{
    struct soap_context ws2 = practice_ctx("m1", "cs1", "ws2", NULL);
    struct soap_context m2 = practice_ctx("m2", "cs2", "ws3", NULL);

    assert_int_equal(check(&ws2, handle_of("egk1"), NULL, 0), 4012);
    assert_int_equal(check(&ws2, handle_of("egk1"), NULL, SERVICES_CTX_ALL_WORKPLACES), 0);
    assert_int_equal(check(&m2, handle_of("egk1"), NULL, SERVICES_CTX_ALL_WORKPLACES), 4012);
}

static void smcb_counts_as_managed_while_none_is_configured(void **state)
{
    struct soap_context ctx = practice_ctx("m1", "cs1", "ws1", NULL);

    assert_int_equal(check(&ctx, handle_of("smcb1"), NULL, 0), 0);
}

static void smcb_not_managed_for_the_mandant_is_4009(void **state)
{
    struct soap_context ctx = practice_ctx("m1", "cs1", "ws1", NULL);
    const struct cards_card *smcb = cards_card_find(P.cards, "smcb1");

    /* Once any SM-B is assigned, only assigned ones pass. */
    assert_int_equal(store_relation_add(P.store, STORE_REL_MANDANT_SMB, "m2", smcb->iccsn, NULL),
                     0);
    assert_int_equal(check(&ctx, handle_of("smcb1"), NULL, 0), 4009);
    assert_int_equal(store_relation_add(P.store, STORE_REL_MANDANT_SMB, "m1", smcb->iccsn, NULL),
                     0);
    assert_int_equal(check(&ctx, handle_of("smcb1"), NULL, 0), 0);
    assert_int_equal(store_relation_delete(P.store, STORE_REL_MANDANT_SMB, "m1", smcb->iccsn), 0);
    assert_int_equal(store_relation_delete(P.store, STORE_REL_MANDANT_SMB, "m2", smcb->iccsn), 0);
    assert_int_equal(check(&ctx, handle_of("smcb1"), NULL, 0), 0);
}

static void hba_session_without_user_id_is_4003(void **state)
{
    struct soap_context anon = practice_ctx("m1", "cs1", "ws1", NULL);
    struct soap_context user = practice_ctx("m1", "cs1", "ws1", "user1");

    assert_int_equal(check(&anon, handle_of("hba1"), NULL, SERVICES_CTX_NEED_CARD_SESSION), 4003);
    assert_int_equal(check(&user, handle_of("hba1"), NULL, SERVICES_CTX_NEED_CARD_SESSION), 0);
    /* Without a card session, and for other cards, the UserId is not needed. */
    assert_int_equal(check(&anon, handle_of("hba1"), NULL, 0), 0);
    assert_int_equal(check(&anon, handle_of("egk1"), NULL, SERVICES_CTX_NEED_CARD_SESSION), 0);
}

static void first_failed_condition_decides_the_code(void **state)
{
    struct soap_context bad_all = practice_ctx("mX", "csX", "wsX", NULL);
    struct soap_context bad_cs_wp = practice_ctx("m1", "csX", "ws3", NULL);
    struct soap_context ws2 = practice_ctx("m1", "cs1", "ws2", NULL);

    assert_int_equal(check(&bad_all, "nope", "ctX", 0), 4004);
    assert_int_equal(check(&bad_cs_wp, NULL, NULL, 0), 4005);
    /* The terminal is checked before the card. */
    assert_int_equal(check(&ws2, "nope", "ctX", 0), 4007);
    assert_int_equal(check(&ws2, "nope", "ct1", 0), 4012);
    assert_int_equal(check(&ws2, "nope", "ct2", 0), 4008);
}

static void reachability_follows_info_model_changes_at_once(void **state)
{
    struct soap_context ws2 = practice_ctx("m1", "cs1", "ws2", NULL);

    assert_int_equal(check(&ws2, NULL, "ct4", 0), 4012);
    assert_int_equal(store_relation_add(P.store, STORE_REL_WORKPLACE_CT_REMOTE, "ws2", "ct4", NULL),
                     0);
    assert_int_equal(check(&ws2, NULL, "ct4", 0), 0);
    assert_int_equal(store_relation_delete(P.store, STORE_REL_WORKPLACE_CT_REMOTE, "ws2", "ct4"),
                     0);
    assert_int_equal(check(&ws2, NULL, "ct4", 0), 4012);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(complete_known_context_passes),
        cmocka_unit_test(missing_mandatory_field_is_4021),
        cmocka_unit_test(unknown_ids_are_4004_4005_4006),
        cmocka_unit_test(entities_of_another_mandant_are_4010_4011),
        cmocka_unit_test(unknown_terminal_is_4007),
        cmocka_unit_test(terminal_of_other_workplace_is_4012_unless_mandant_wide),
        cmocka_unit_test(terminal_of_another_mandant_stays_4012_mandant_wide),
        cmocka_unit_test(unknown_card_handle_is_4008),
        cmocka_unit_test(card_in_unreachable_terminal_is_4012),
        cmocka_unit_test(smcb_counts_as_managed_while_none_is_configured),
        cmocka_unit_test(smcb_not_managed_for_the_mandant_is_4009),
        cmocka_unit_test(hba_session_without_user_id_is_4003),
        cmocka_unit_test(first_failed_condition_decides_the_code),
        cmocka_unit_test(reachability_follows_info_model_changes_at_once),
    };

    log_level_set(LOG_LEVEL_WARNING);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
