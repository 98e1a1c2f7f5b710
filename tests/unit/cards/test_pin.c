/* Unit tests for src/cards/pin.c (every transition of the PIN state machines), session.c (card
 * sessions, TIP1-A_4560) and pinpad.c (the virtual PIN pad: typing, timeout on the virtual
 * clock, cancel, card pulled, one entry per terminal, auto-PIN). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cards/pin.h"
#include "cards_test.h"

/* ---- the state machines ----------------------------------------------------------------- */

static struct cards_pin pin_of(enum cards_pin_state state, unsigned tries, unsigned puk_uses)
{
    struct cards_pin p = {.state = state, .tries_left = tries, .puk_uses_left = puk_uses};

    (void)str_copy(p.name, sizeof(p.name), "PIN.CH");
    (void)str_copy(p.pin, sizeof(p.pin), "123456");
    (void)str_copy(p.puk, sizeof(p.puk), "12345678");
    return p;
}

static struct cards_pin_entry entry(const char *a, const char *b, const char *c)
{
    struct cards_pin_entry e = {0};
    const char *v[] = {a, b, c};

    for (size_t i = 0; i < 3 && v[i]; i++)
        (void)str_copy(e.values[e.n++], sizeof(e.values[0]), v[i]);
    return e;
}

/* Plans op and checks the number of steps. */
static int plan(const struct cards_pin *p, enum cards_pin_op op, struct cards_pin_outcome *out)
{
    enum cards_pin_step steps[CARDS_PIN_STEPS_MAX];

    memset(out, 0xa5, sizeof(*out));
    return cards_pin_plan(p, op, CARDS_TYPE_EGK, false, steps, out);
}

static struct cards_pin_outcome apply(struct cards_pin *p, enum cards_pin_op op,
                                      struct cards_pin_entry e)
{
    struct cards_pin_outcome out;

    assert_int_equal(cards_pin_apply(p, op, CARDS_TYPE_EGK, &e, &out), 0);
    return out;
}

static void names_are_the_xsd_enumerations(void **state)
{
    static const char *const res[] = {"OK",         "ERROR",      "REJECTED",
                                      "WASBLOCKED", "NOWBLOCKED", "TRANSPORT_PIN"};
    static const char *const st[] = {"VERIFIED", "TRANSPORT_PIN", "EMPTY_PIN",
                                     "BLOCKED",  "VERIFIABLE",    "DISABLED"};

    for (size_t i = 0; i < CARDS_PIN_RESULT_MAX; i++)
        assert_string_equal(cards_pin_result_to_string((enum cards_pin_result)i), res[i]);
    for (size_t i = 0; i < CARDS_PIN_STATUS_MAX; i++)
        assert_string_equal(cards_pin_status_to_string((enum cards_pin_status)i), st[i]);
    assert_string_equal(cards_pin_op_to_string(CARDS_PIN_OP_UNBLOCK_NEW_PIN), "UnblockPin");
    assert_string_equal(cards_pin_result_to_string(CARDS_PIN_RESULT_MAX), "?");
}

static void verify_right_pin_resets_tries_and_verifies(void **state)
{
    struct cards_pin p = pin_of(CARDS_PIN_VERIFIABLE, 2, 10);
    struct cards_pin_outcome out;

    assert_int_equal(plan(&p, CARDS_PIN_OP_VERIFY, &out), 1);
    out = apply(&p, CARDS_PIN_OP_VERIFY, entry("123456", NULL, NULL));
    assert_int_equal(out.refusal, CARDS_PIN_REFUSAL_NONE);
    assert_int_equal(out.result, CARDS_PIN_RESULT_OK);
    assert_true(out.verified);
    assert_true(out.changed);
    assert_int_equal(p.tries_left, 3);
    assert_int_equal(p.state, CARDS_PIN_VERIFIABLE);
}

static void three_wrong_pins_block_and_a_fourth_was_blocked(void **state)
{
    struct cards_pin p = pin_of(CARDS_PIN_VERIFIABLE, 3, 10);
    struct cards_pin_outcome out;

    out = apply(&p, CARDS_PIN_OP_VERIFY, entry("000000", NULL, NULL));
    assert_int_equal(out.result, CARDS_PIN_RESULT_REJECTED);
    assert_int_equal(out.left_tries, 2);
    assert_false(out.verified);
    out = apply(&p, CARDS_PIN_OP_VERIFY, entry("1234567", NULL, NULL)); /* a longer one */
    assert_int_equal(out.result, CARDS_PIN_RESULT_REJECTED);
    assert_int_equal(out.left_tries, 1);
    out = apply(&p, CARDS_PIN_OP_VERIFY, entry("12345", NULL, NULL));
    assert_int_equal(out.result, CARDS_PIN_RESULT_NOWBLOCKED);
    assert_int_equal(out.left_tries, 0);
    assert_int_equal(p.state, CARDS_PIN_BLOCKED);
    /* Blocked: no typing, technically OK with WASBLOCKED. */
    assert_int_equal(plan(&p, CARDS_PIN_OP_VERIFY, &out), 0);
    assert_int_equal(out.refusal, CARDS_PIN_REFUSAL_NONE);
    assert_int_equal(out.result, CARDS_PIN_RESULT_WASBLOCKED);
    assert_int_equal(plan(&p, CARDS_PIN_OP_CHANGE, &out), 0);
    assert_int_equal(out.result, CARDS_PIN_RESULT_WASBLOCKED);
    /* Not even the right PIN gets through a plan of zero steps. */
    assert_int_equal(cards_pin_apply(&p, CARDS_PIN_OP_VERIFY, CARDS_TYPE_EGK,
                                     &(struct cards_pin_entry){0}, &out),
                     -EINVAL);
}

static void blocking_without_puk_uses_is_puk_blocked(void **state)
{
    struct cards_pin p = pin_of(CARDS_PIN_VERIFIABLE, 1, 0);
    struct cards_pin_outcome out;

    out = apply(&p, CARDS_PIN_OP_VERIFY, entry("000000", NULL, NULL));
    assert_int_equal(out.result, CARDS_PIN_RESULT_NOWBLOCKED);
    assert_int_equal(p.state, CARDS_PIN_PUK_BLOCKED);
    assert_int_equal(plan(&p, CARDS_PIN_OP_UNBLOCK, &out), 0);
    assert_int_equal(out.refusal, CARDS_PIN_REFUSAL_PUK_BLOCKED);
}

static void verify_transport_empty_disabled(void **state)
{
    struct cards_pin t = pin_of(CARDS_PIN_TRANSPORT, 3, 10);
    struct cards_pin e = pin_of(CARDS_PIN_EMPTY, 3, 10);
    struct cards_pin d = pin_of(CARDS_PIN_DISABLED, 3, 10);
    struct cards_pin_outcome out;

    assert_int_equal(plan(&t, CARDS_PIN_OP_VERIFY, &out), 0);
    assert_int_equal(out.refusal, CARDS_PIN_REFUSAL_NONE);
    assert_int_equal(out.result, CARDS_PIN_RESULT_TRANSPORT_PIN);
    assert_false(out.verified);
    assert_int_equal(plan(&e, CARDS_PIN_OP_VERIFY, &out), 0);
    assert_int_equal(out.refusal, CARDS_PIN_REFUSAL_CHANGE_FIRST);
    assert_int_equal(plan(&d, CARDS_PIN_OP_VERIFY, &out), 0);
    assert_int_equal(out.result, CARDS_PIN_RESULT_OK);
    assert_true(out.verified);
    assert_false(out.changed);
}

static void change_from_verifiable(void **state)
{
    struct cards_pin p = pin_of(CARDS_PIN_VERIFIABLE, 2, 10);
    enum cards_pin_step steps[CARDS_PIN_STEPS_MAX];
    struct cards_pin_outcome out;

    assert_int_equal(cards_pin_plan(&p, CARDS_PIN_OP_CHANGE, CARDS_TYPE_HBA, false, steps, &out),
                     3);
    assert_int_equal(steps[0], CARDS_PIN_STEP_PIN);
    assert_int_equal(steps[1], CARDS_PIN_STEP_NEW);
    assert_int_equal(steps[2], CARDS_PIN_STEP_NEW_AGAIN);
    out = apply(&p, CARDS_PIN_OP_CHANGE, entry("123456", "24681357", "24681357"));
    assert_int_equal(out.result, CARDS_PIN_RESULT_OK);
    assert_true(out.verified);
    assert_string_equal(p.pin, "24681357");
    assert_int_equal(p.tries_left, 3);
    out = apply(&p, CARDS_PIN_OP_VERIFY, entry("123456", NULL, NULL));
    assert_int_equal(out.result, CARDS_PIN_RESULT_REJECTED);
}

static void change_checks_the_new_pin_before_any_try(void **state)
{
    struct cards_pin p = pin_of(CARDS_PIN_VERIFIABLE, 3, 10);
    struct cards_pin_outcome out;

    out = apply(&p, CARDS_PIN_OP_CHANGE, entry("000000", "654321", "654322"));
    assert_int_equal(out.refusal, CARDS_PIN_REFUSAL_NEW_MISMATCH);
    out = apply(&p, CARDS_PIN_OP_CHANGE, entry("000000", "12345", "12345"));
    assert_int_equal(out.refusal, CARDS_PIN_REFUSAL_NEW_LENGTH);
    out = apply(&p, CARDS_PIN_OP_CHANGE, entry("000000", "123456789", "123456789"));
    assert_int_equal(out.refusal, CARDS_PIN_REFUSAL_NEW_LENGTH);
    assert_int_equal(p.tries_left, 3);
    assert_string_equal(p.pin, "123456");
    /* A wrong old PIN costs a try and changes nothing else. */
    out = apply(&p, CARDS_PIN_OP_CHANGE, entry("000000", "654321", "654321"));
    assert_int_equal(out.result, CARDS_PIN_RESULT_REJECTED);
    assert_int_equal(out.left_tries, 2);
    assert_string_equal(p.pin, "123456");
}

static void change_from_transport_pin(void **state)
{
    struct cards_pin p = pin_of(CARDS_PIN_TRANSPORT, 3, 10);
    struct cards_pin_outcome out;

    assert_int_equal(plan(&p, CARDS_PIN_OP_CHANGE, &out), 3);
    out = apply(&p, CARDS_PIN_OP_CHANGE, entry("111111", "654321", "654321"));
    assert_int_equal(out.result, CARDS_PIN_RESULT_REJECTED);
    assert_int_equal(p.state, CARDS_PIN_TRANSPORT);
    out = apply(&p, CARDS_PIN_OP_CHANGE, entry("123456", "654321", "654321"));
    assert_int_equal(out.result, CARDS_PIN_RESULT_OK);
    assert_int_equal(p.state, CARDS_PIN_VERIFIABLE);
    assert_int_equal(p.tries_left, 3);
    assert_string_equal(p.pin, "654321");
}

static void change_from_empty_pin_asks_only_the_new_one(void **state)
{
    struct cards_pin p = pin_of(CARDS_PIN_EMPTY, 3, 10);
    enum cards_pin_step steps[CARDS_PIN_STEPS_MAX];
    struct cards_pin_outcome out;

    assert_int_equal(cards_pin_plan(&p, CARDS_PIN_OP_CHANGE, CARDS_TYPE_EGK, false, steps, &out),
                     2);
    assert_int_equal(steps[0], CARDS_PIN_STEP_NEW);
    assert_int_equal(steps[1], CARDS_PIN_STEP_NEW_AGAIN);
    out = apply(&p, CARDS_PIN_OP_CHANGE, entry("87654321", "87654321", NULL));
    assert_int_equal(out.result, CARDS_PIN_RESULT_OK);
    assert_int_equal(p.state, CARDS_PIN_VERIFIABLE);
    assert_string_equal(p.pin, "87654321");
}

static void unblock_with_puk_recovers_the_pin(void **state)
{
    struct cards_pin p = pin_of(CARDS_PIN_BLOCKED, 0, 10);
    struct cards_pin_outcome out;

    assert_int_equal(plan(&p, CARDS_PIN_OP_UNBLOCK, &out), 1);
    out = apply(&p, CARDS_PIN_OP_UNBLOCK, entry("12345678", NULL, NULL));
    assert_int_equal(out.result, CARDS_PIN_RESULT_OK);
    assert_false(out.verified); /* RESET RETRY COUNTER sets no security state */
    assert_int_equal(p.state, CARDS_PIN_VERIFIABLE);
    assert_int_equal(p.tries_left, 3);
    assert_int_equal(p.puk_uses_left, 9);
    assert_string_equal(p.pin, "123456");
}

static void unblock_with_a_new_pin(void **state)
{
    struct cards_pin p = pin_of(CARDS_PIN_BLOCKED, 0, 10);
    struct cards_pin_outcome out;

    assert_int_equal(plan(&p, CARDS_PIN_OP_UNBLOCK_NEW_PIN, &out), 3);
    out = apply(&p, CARDS_PIN_OP_UNBLOCK_NEW_PIN, entry("12345678", "111222", "111223"));
    assert_int_equal(out.refusal, CARDS_PIN_REFUSAL_NEW_MISMATCH);
    assert_int_equal(p.puk_uses_left, 10);
    out = apply(&p, CARDS_PIN_OP_UNBLOCK_NEW_PIN, entry("12345678", "111222", "111222"));
    assert_int_equal(out.result, CARDS_PIN_RESULT_OK);
    assert_string_equal(p.pin, "111222");
    assert_int_equal(p.state, CARDS_PIN_VERIFIABLE);
}

static void pin_qes_gets_no_new_pin_on_unblock(void **state)
{
    struct cards_pin p = pin_of(CARDS_PIN_BLOCKED, 0, 10);
    struct cards_pin_outcome out;

    (void)str_copy(p.name, sizeof(p.name), "PIN.QES");
    assert_int_equal(plan(&p, CARDS_PIN_OP_UNBLOCK_NEW_PIN, &out), 0);
    assert_int_equal(out.refusal, CARDS_PIN_REFUSAL_NOT_ALLOWED);
    assert_int_equal(plan(&p, CARDS_PIN_OP_UNBLOCK, &out), 1);
    assert_false(cards_pin_may_set_on_unblock("PIN.QES"));
    assert_true(cards_pin_may_set_on_unblock("PIN.CH"));
}

static void wrong_puks_use_up_the_puk(void **state)
{
    struct cards_pin p = pin_of(CARDS_PIN_BLOCKED, 0, 2);
    struct cards_pin_outcome out;

    out = apply(&p, CARDS_PIN_OP_UNBLOCK, entry("00000000", NULL, NULL));
    assert_int_equal(out.result, CARDS_PIN_RESULT_REJECTED);
    assert_int_equal(out.left_tries, 1);
    assert_int_equal(p.state, CARDS_PIN_BLOCKED);
    out = apply(&p, CARDS_PIN_OP_UNBLOCK, entry("00000000", NULL, NULL));
    assert_int_equal(out.result, CARDS_PIN_RESULT_NOWBLOCKED);
    assert_int_equal(p.state, CARDS_PIN_PUK_BLOCKED);
    assert_int_equal(plan(&p, CARDS_PIN_OP_UNBLOCK, &out), 0);
    assert_int_equal(out.refusal, CARDS_PIN_REFUSAL_PUK_BLOCKED);
    assert_int_equal(plan(&p, CARDS_PIN_OP_VERIFY, &out), 0);
    assert_int_equal(out.result, CARDS_PIN_RESULT_WASBLOCKED);
}

static void the_tenth_puk_use_is_the_last(void **state)
{
    struct cards_pin p = pin_of(CARDS_PIN_BLOCKED, 0, 1);
    struct cards_pin_outcome out;

    out = apply(&p, CARDS_PIN_OP_UNBLOCK, entry("12345678", NULL, NULL));
    assert_int_equal(out.result, CARDS_PIN_RESULT_OK);
    assert_int_equal(p.puk_uses_left, 0);
    assert_int_equal(plan(&p, CARDS_PIN_OP_UNBLOCK, &out), 0);
    assert_int_equal(out.refusal, CARDS_PIN_REFUSAL_PUK_BLOCKED);
    /* Blocked again, it can never be unblocked. */
    for (int i = 0; i < 3; i++)
        out = apply(&p, CARDS_PIN_OP_VERIFY, entry("000000", NULL, NULL));
    assert_int_equal(p.state, CARDS_PIN_PUK_BLOCKED);
}

static void unblock_refuses_transport_and_empty(void **state)
{
    struct cards_pin t = pin_of(CARDS_PIN_TRANSPORT, 3, 10);
    struct cards_pin e = pin_of(CARDS_PIN_EMPTY, 3, 10);
    struct cards_pin_outcome out;

    assert_int_equal(plan(&t, CARDS_PIN_OP_UNBLOCK, &out), 0);
    assert_int_equal(out.refusal, CARDS_PIN_REFUSAL_CHANGE_FIRST);
    assert_int_equal(plan(&e, CARDS_PIN_OP_UNBLOCK_NEW_PIN, &out), 0);
    assert_int_equal(out.refusal, CARDS_PIN_REFUSAL_CHANGE_FIRST);
}

static void unblock_of_a_verifiable_pin_resets_its_counter(void **state)
{
    struct cards_pin p = pin_of(CARDS_PIN_VERIFIABLE, 1, 10);
    struct cards_pin_outcome out;

    out = apply(&p, CARDS_PIN_OP_UNBLOCK, entry("12345678", NULL, NULL));
    assert_int_equal(out.result, CARDS_PIN_RESULT_OK);
    assert_int_equal(p.tries_left, 3);
    assert_int_equal(p.state, CARDS_PIN_VERIFIABLE);
}

static void disable_and_enable_the_egk_pin(void **state)
{
    struct cards_pin p = pin_of(CARDS_PIN_VERIFIABLE, 3, 10);
    struct cards_pin_outcome out;

    assert_int_equal(plan(&p, CARDS_PIN_OP_ENABLE, &out), 0); /* already enabled */
    assert_int_equal(out.result, CARDS_PIN_RESULT_OK);
    assert_int_equal(plan(&p, CARDS_PIN_OP_DISABLE, &out), 1);
    out = apply(&p, CARDS_PIN_OP_DISABLE, entry("000000", NULL, NULL));
    assert_int_equal(out.result, CARDS_PIN_RESULT_REJECTED);
    assert_int_equal(p.state, CARDS_PIN_VERIFIABLE);
    out = apply(&p, CARDS_PIN_OP_DISABLE, entry("123456", NULL, NULL));
    assert_int_equal(out.result, CARDS_PIN_RESULT_OK);
    assert_int_equal(p.state, CARDS_PIN_DISABLED);
    assert_int_equal(plan(&p, CARDS_PIN_OP_DISABLE, &out), 0); /* already disabled */
    assert_int_equal(out.result, CARDS_PIN_RESULT_OK);
    assert_int_equal(plan(&p, CARDS_PIN_OP_ENABLE, &out), 1);
    out = apply(&p, CARDS_PIN_OP_ENABLE, entry("123456", NULL, NULL));
    assert_int_equal(out.result, CARDS_PIN_RESULT_OK);
    assert_true(out.verified);
    assert_int_equal(p.state, CARDS_PIN_VERIFIABLE);
}

static void enable_disable_refusals(void **state)
{
    struct cards_pin b = pin_of(CARDS_PIN_BLOCKED, 0, 10);
    struct cards_pin t = pin_of(CARDS_PIN_TRANSPORT, 3, 10);
    struct cards_pin q = pin_of(CARDS_PIN_VERIFIABLE, 3, 10);
    enum cards_pin_step steps[CARDS_PIN_STEPS_MAX];
    struct cards_pin_outcome out;

    assert_int_equal(plan(&b, CARDS_PIN_OP_ENABLE, &out), 0);
    assert_int_equal(out.refusal, CARDS_PIN_REFUSAL_BLOCKED);
    assert_int_equal(plan(&b, CARDS_PIN_OP_DISABLE, &out), 0);
    assert_int_equal(out.refusal, CARDS_PIN_REFUSAL_BLOCKED);
    assert_int_equal(plan(&t, CARDS_PIN_OP_DISABLE, &out), 0);
    assert_int_equal(out.refusal, CARDS_PIN_REFUSAL_CHANGE_FIRST);
    /* Only the eGK's PIN.CH may be switched off. */
    assert_int_equal(cards_pin_plan(&q, CARDS_PIN_OP_DISABLE, CARDS_TYPE_HBA, false, steps, &out),
                     0);
    assert_int_equal(out.refusal, CARDS_PIN_REFUSAL_NOT_ALLOWED);
    (void)str_copy(q.name, sizeof(q.name), "MRPIN.NFD");
    assert_int_equal(cards_pin_plan(&q, CARDS_PIN_OP_DISABLE, CARDS_TYPE_EGK, false, steps, &out),
                     0);
    assert_int_equal(out.refusal, CARDS_PIN_REFUSAL_NOT_ALLOWED);
}

static void status_reports_each_state(void **state)
{
    static const struct {
        enum cards_pin_state state;
        bool session;
        enum cards_pin_status want;
    } cases[] = {
        {CARDS_PIN_VERIFIABLE, false, CARDS_PIN_STATUS_VERIFIABLE},
        {CARDS_PIN_VERIFIABLE, true, CARDS_PIN_STATUS_VERIFIED},
        {CARDS_PIN_TRANSPORT, true, CARDS_PIN_STATUS_TRANSPORT_PIN},
        {CARDS_PIN_EMPTY, false, CARDS_PIN_STATUS_EMPTY_PIN},
        {CARDS_PIN_BLOCKED, true, CARDS_PIN_STATUS_BLOCKED},
        {CARDS_PIN_PUK_BLOCKED, false, CARDS_PIN_STATUS_BLOCKED},
        {CARDS_PIN_DISABLED, false, CARDS_PIN_STATUS_DISABLED},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct cards_pin p = pin_of(cases[i].state, 2, 10);
        enum cards_pin_step steps[CARDS_PIN_STEPS_MAX];
        struct cards_pin_outcome out;

        assert_int_equal(
            cards_pin_plan(&p, CARDS_PIN_OP_STATUS, CARDS_TYPE_EGK, cases[i].session, steps, &out),
            0);
        assert_int_equal(out.status, cases[i].want);
        assert_int_equal(out.left_tries, 2);
        assert_false(out.changed);
    }
}

static void apply_refuses_an_entry_that_does_not_match_the_plan(void **state)
{
    struct cards_pin p = pin_of(CARDS_PIN_VERIFIABLE, 3, 10);
    struct cards_pin_outcome out;
    struct cards_pin_entry e = entry("123456", "123456", NULL);

    assert_int_equal(cards_pin_apply(&p, CARDS_PIN_OP_VERIFY, CARDS_TYPE_EGK, &e, &out), -EINVAL);
    assert_int_equal(cards_pin_apply(&p, CARDS_PIN_OP_MAX, CARDS_TYPE_EGK, &e, &out), -EINVAL);
    assert_int_equal(p.tries_left, 3);
}

/* ---- sessions and the PIN pad on a real world ------------------------------------------- */

struct done_rec {
    int calls;
    struct cards_pin_outcome out;
};

static void on_done(const struct cards_pin_outcome *out, void *arg)
{
    struct done_rec *d = arg;

    d->calls++;
    d->out = *out;
}

static const char *handle_of(struct world *w, const char *name)
{
    const struct cards_card *card = cards_card_find(w->cards, name);

    assert_non_null(card);
    assert_true(card->ct_id[0] != '\0');
    return card->handle;
}

static int start(struct world *w, const char *card, const char *pin, const char *key,
                 enum cards_pin_op op, struct done_rec *d, struct cards_pin_outcome *out)
{
    struct cards_pin_request req = {
        .handle = handle_of(w, card), .pin_name = pin, .session_key = key, .op = op};

    return cards_pin_start(w->cards, &req, on_done, d, out);
}

static void demo_cards_have_the_pins_of_the_issue(void **state)
{
    struct world *w = *state;
    const struct cards_card *egk = cards_card_find(w->cards, "egk1");
    const struct cards_card *hba = cards_card_find(w->cards, "hba1");
    const struct cards_card *smcb = cards_card_find(w->cards, "smcb1");

    assert_int_equal(egk->n_pins, 10);
    assert_string_equal(egk->pins[0].name, "PIN.CH");
    assert_string_equal(egk->pins[2].name, "MRPIN.NFD");
    assert_string_equal(egk->pins[9].name, "PIN.AMTS_REP");
    assert_int_equal(hba->n_pins, 2);
    assert_string_equal(hba->pins[1].name, "PIN.QES");
    assert_int_equal(smcb->n_pins, 1);
    assert_string_equal(smcb->pins[0].name, "PIN.SMC");
    for (size_t i = 0; i < egk->n_pins; i++) {
        assert_int_equal(egk->pins[i].tries_left, 3);
        assert_int_equal(egk->pins[i].puk_uses_left, 10);
    }
}

static void session_keys_follow_the_card_type(void **state)
{
    char k[CARDS_SESSION_KEY_MAX];
    char k2[CARDS_SESSION_KEY_MAX];
    char big[200];

    assert_int_equal(cards_session_key(CARDS_TYPE_SMC_B, "m1", "cs1", "", k, sizeof(k)), 0);
    assert_int_equal(cards_session_key(CARDS_TYPE_SMC_B, "m1", "cs2", "u", k2, sizeof(k2)), 0);
    assert_string_equal(k, k2); /* SMC-B: the Mandant alone */
    assert_int_equal(cards_session_key(CARDS_TYPE_HBA, "m1", "cs1", "u1", k, sizeof(k)), 0);
    assert_int_equal(cards_session_key(CARDS_TYPE_HBA, "m2", "cs1", "u1", k2, sizeof(k2)), 0);
    assert_string_equal(k, k2); /* HBA: client system and user */
    assert_int_equal(cards_session_key(CARDS_TYPE_HBA, "m1", "cs1", "u2", k2, sizeof(k2)), 0);
    assert_string_not_equal(k, k2);
    assert_int_equal(cards_session_key(CARDS_TYPE_EGK, "m1", "cs1", "", k, sizeof(k)), 0);
    assert_int_equal(cards_session_key(CARDS_TYPE_EGK, "m2", "cs2", "x", k2, sizeof(k2)), 0);
    assert_string_equal(k, k2); /* eGK: one session per card */
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(cards_session_key(CARDS_TYPE_SMC_B, big, "", "", k, sizeof(k)), -ENAMETOOLONG);
}

static void typed_pin_verifies_only_its_session(void **state)
{
    struct world *w = *state;
    struct done_rec d = {0};
    struct cards_pin_outcome out;
    struct cards_pinpad_view v;
    bool done = false;

    assert_int_equal(start(w, "smcb1", "PIN.SMC", "m:m1", CARDS_PIN_OP_VERIFY, &d, &out), 1);
    assert_int_equal(cards_pinpad_view(w->cards, "ct1", &v), 0);
    assert_true(v.waiting);
    assert_string_equal(v.card, "smcb1");
    assert_string_equal(v.pin_name, "PIN.SMC");
    assert_string_equal(v.display, "PIN.SMC eingeben");
    assert_string_equal(cards_terminal_find(w->cards, "ct1")->display, "PIN.SMC eingeben");
    assert_int_equal(v.step, 1);
    assert_int_equal(v.steps, 1);
    assert_int_equal(cards_pinpad_type(w->cards, "ct1", "123456", &done), 0);
    assert_string_equal(cards_terminal_find(w->cards, "ct1")->display, "");
    assert_true(done);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.out.result, CARDS_PIN_RESULT_OK);
    assert_true(cards_session_is_verified(w->cards, handle_of(w, "smcb1"), "m:m1", "PIN.SMC"));
    assert_false(cards_session_is_verified(w->cards, handle_of(w, "smcb1"), "m:m2", "PIN.SMC"));
    /* GetPinStatus per session, no typing. */
    assert_int_equal(start(w, "smcb1", "PIN.SMC", "m:m1", CARDS_PIN_OP_STATUS, &d, &out), 0);
    assert_int_equal(out.status, CARDS_PIN_STATUS_VERIFIED);
    assert_int_equal(start(w, "smcb1", "PIN.SMC", "m:m2", CARDS_PIN_OP_STATUS, &d, &out), 0);
    assert_int_equal(out.status, CARDS_PIN_STATUS_VERIFIABLE);
    assert_int_equal(cards_pinpad_view(w->cards, "ct1", &v), 0);
    assert_false(v.waiting);
}

static void wrong_pin_in_one_session_leaves_the_other(void **state)
{
    struct world *w = *state;
    struct done_rec d = {0};
    struct cards_pin_outcome out;
    const char *h = handle_of(w, "hba1");

    assert_int_equal(cards_session_set_verified(w->cards, h, "u:cs1\nu1", "PIN.CH", true), 0);
    assert_int_equal(start(w, "hba1", "PIN.CH", "u:cs1\nu2", CARDS_PIN_OP_VERIFY, &d, &out), 1);
    assert_int_equal(cards_pinpad_type(w->cards, "ct1", "999999", NULL), 0);
    assert_int_equal(d.out.result, CARDS_PIN_RESULT_REJECTED);
    assert_int_equal(d.out.left_tries, 2);
    assert_true(cards_session_is_verified(w->cards, h, "u:cs1\nu1", "PIN.CH"));
    /* The counter is the card's: the first session sees 2 tries left. */
    assert_int_equal(cards_card_find(w->cards, "hba1")->pins[0].tries_left, 2);
    /* A wrong PIN in the verified session itself takes its state. */
    assert_int_equal(start(w, "hba1", "PIN.CH", "u:cs1\nu1", CARDS_PIN_OP_VERIFY, &d, &out), 1);
    assert_int_equal(cards_pinpad_type(w->cards, "ct1", "999999", NULL), 0);
    assert_false(cards_session_is_verified(w->cards, h, "u:cs1\nu1", "PIN.CH"));
    assert_int_equal(cards_session_count(w->cards), 0);
}

static void second_entry_on_a_busy_pad_is_refused(void **state)
{
    struct world *w = *state;
    struct done_rec d1 = {0}, d2 = {0};
    struct cards_pin_outcome out;

    assert_int_equal(start(w, "hba1", "PIN.CH", "u:cs1\nu1", CARDS_PIN_OP_VERIFY, &d1, &out), 1);
    assert_int_equal(start(w, "egk1", "PIN.CH", "card", CARDS_PIN_OP_VERIFY, &d2, &out), -EBUSY);
    /* A status needs no pad. */
    assert_int_equal(start(w, "egk1", "PIN.CH", "card", CARDS_PIN_OP_STATUS, &d2, &out), 0);
    /* Another text on the display (a RequestCard's) stays when the entry ends. */
    assert_int_equal(cards_terminal_display_set(w->cards, "ct1", "Bitte Karte stecken"), 0);
    assert_int_equal(cards_pinpad_cancel(w->cards, "ct1"), 0);
    assert_string_equal(cards_terminal_find(w->cards, "ct1")->display, "Bitte Karte stecken");
    assert_int_equal(d1.calls, 1);
    assert_int_equal(d1.out.refusal, CARDS_PIN_REFUSAL_ABORTED);
    assert_int_equal(cards_pinpad_cancel(w->cards, "ct1"), -EAGAIN);
    assert_int_equal(cards_pinpad_type(w->cards, "ct1", "123456", NULL), -EAGAIN);
    assert_int_equal(cards_pinpad_type(w->cards, "nope", "123456", NULL), -ENOENT);
    assert_int_equal(d2.calls, 0);
}

static void pad_times_out_on_the_virtual_clock(void **state)
{
    struct world *w = *state;
    struct done_rec d = {0};
    struct cards_pin_outcome out;

    assert_int_equal(start(w, "hba1", "PIN.QES", "u:cs1\nu1", CARDS_PIN_OP_VERIFY, &d, &out), 1);
    assert_int_equal(clock_advance(CARDS_PINPAD_TIMEOUT_MS - 1000), 0);
    assert_int_equal(d.calls, 0);
    assert_int_equal(clock_advance(2000), 0);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.out.refusal, CARDS_PIN_REFUSAL_TIMEOUT);
    assert_int_equal(cards_card_find(w->cards, "hba1")->pins[1].tries_left, 3);
    /* The pad is free again. */
    assert_int_equal(start(w, "hba1", "PIN.QES", "u:cs1\nu1", CARDS_PIN_OP_VERIFY, &d, &out), 1);
    cards_pin_wait_cancel(w->cards, &d);
    assert_int_equal(clock_advance(CARDS_PINPAD_TIMEOUT_MS + 1), 0);
    assert_int_equal(d.calls, 1); /* cancelled by the waiter: no done */
}

static void pulled_card_ends_its_wait_and_sessions(void **state)
{
    struct world *w = *state;
    struct done_rec d = {0};
    struct cards_pin_outcome out;
    const struct cards_card *smcb = cards_card_find(w->cards, "smcb1");
    unsigned slot = smcb->slot;

    assert_int_equal(cards_session_set_verified(w->cards, smcb->handle, "m:m1", "PIN.SMC", true),
                     0);
    assert_int_equal(start(w, "smcb1", "PIN.SMC", "m:m2", CARDS_PIN_OP_CHANGE, &d, &out), 1);
    assert_int_equal(cards_pinpad_type(w->cards, "ct1", "123456", NULL), 0); /* 1 of 3 steps */
    assert_int_equal(cards_remove(w->cards, "ct1", slot), 0);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.out.refusal, CARDS_PIN_REFUSAL_CARD_REMOVED);
    assert_int_equal(cards_session_count(w->cards), 0);
    /* TIP1-A_4539: the terminal stays usable. */
    assert_int_equal(cards_insert(w->cards, "ct1", slot, "smcb1"), 0);
    assert_int_equal(start(w, "smcb1", "PIN.SMC", "m:m1", CARDS_PIN_OP_STATUS, &d, &out), 0);
    assert_int_equal(out.status, CARDS_PIN_STATUS_VERIFIABLE);
    assert_int_equal(start(w, "smcb1", "PIN.SMC", "m:m1", CARDS_PIN_OP_VERIFY, &d, &out), 1);
    assert_int_equal(cards_pinpad_type(w->cards, "ct1", "123456", NULL), 0);
    assert_int_equal(d.calls, 2);
    assert_int_equal(d.out.result, CARDS_PIN_RESULT_OK);
}

static void change_goes_step_by_step_on_the_pad(void **state)
{
    struct world *w = *state;
    struct done_rec d = {0};
    struct cards_pin_outcome out;
    struct cards_pinpad_view v;
    bool done = true;

    assert_int_equal(start(w, "egk1", "MRPIN.NFD", "card", CARDS_PIN_OP_CHANGE, &d, &out), 1);
    assert_int_equal(cards_pinpad_type(w->cards, "ct1", "123456", &done), 0);
    assert_false(done);
    assert_int_equal(cards_pinpad_view(w->cards, "ct1", &v), 0);
    assert_int_equal(v.step, 2);
    assert_int_equal(v.steps, 3);
    assert_string_equal(v.display, "Neue MRPIN.NFD eingeben");
    assert_string_equal(cards_terminal_find(w->cards, "ct1")->display, v.display);
    assert_int_equal(cards_pinpad_type(w->cards, "ct1", "12a", NULL), -EINVAL);
    assert_int_equal(cards_pinpad_type(w->cards, "ct1", "", NULL), -EINVAL);
    assert_int_equal(cards_pinpad_type(w->cards, "ct1", "7654321", NULL), 0);
    assert_int_equal(cards_pinpad_view(w->cards, "ct1", &v), 0);
    assert_string_equal(v.display, "Neue MRPIN.NFD wiederholen");
    assert_int_equal(cards_pinpad_type(w->cards, "ct1", "7654321", &done), 0);
    assert_true(done);
    assert_int_equal(d.out.result, CARDS_PIN_RESULT_OK);
    assert_string_equal(cards_card_find(w->cards, "egk1")->pins[2].pin, "7654321");
}

static void auto_pin_enters_the_stored_pin_and_persists(void **state)
{
    struct world *w = *state;
    struct done_rec d = {0};
    struct cards_pin_outcome out;
    struct cards_pinpad_view v;

    assert_int_equal(cards_card_set_auto_pin(w->cards, "hba1", true), 0);
    assert_int_equal(cards_card_set_auto_pin(w->cards, "nope", true), -ENOENT);
    assert_int_equal(start(w, "hba1", "PIN.CH", "u:cs1\nu1", CARDS_PIN_OP_VERIFY, &d, &out), 0);
    assert_int_equal(out.result, CARDS_PIN_RESULT_OK);
    assert_true(out.verified);
    assert_int_equal(d.calls, 0);
    /* A change still waits for the new PIN, after the old one was entered. */
    assert_int_equal(start(w, "hba1", "PIN.CH", "u:cs1\nu1", CARDS_PIN_OP_CHANGE, &d, &out), 1);
    assert_int_equal(cards_pinpad_view(w->cards, "ct1", &v), 0);
    assert_int_equal(v.step, 2);
    assert_int_equal(cards_pinpad_cancel(w->cards, "ct1"), 0);
    /* Survives close and open. */
    w->cards = cards_close(w->cards);
    assert_int_equal(world_cards_open(w), 0);
    assert_true(cards_card_find(w->cards, "hba1")->auto_pin);
    assert_false(cards_card_find(w->cards, "egk1")->auto_pin);
}

static void counters_persist_and_set_state_resets_them(void **state)
{
    struct world *w = *state;
    struct done_rec d = {0};
    struct cards_pin_outcome out;

    for (int i = 0; i < 3; i++) {
        assert_int_equal(start(w, "egk1", "PIN.CH", "card", CARDS_PIN_OP_VERIFY, &d, &out), 1);
        assert_int_equal(cards_pinpad_type(w->cards, "ct1", "000000", NULL), 0);
    }
    assert_int_equal(d.out.result, CARDS_PIN_RESULT_NOWBLOCKED);
    w->cards = cards_close(w->cards);
    assert_int_equal(world_cards_open(w), 0);
    assert_int_equal(cards_card_find(w->cards, "egk1")->pins[0].state, CARDS_PIN_BLOCKED);
    assert_int_equal(cards_card_set_pin_state(w->cards, "egk1", "PIN.CH", CARDS_PIN_TRANSPORT), 0);
    assert_int_equal(cards_card_find(w->cards, "egk1")->pins[0].tries_left, 3);
    assert_int_equal(cards_card_set_pin_state(w->cards, "egk1", "PIN.X", CARDS_PIN_EMPTY), -ENOKEY);
    assert_int_equal(start(w, "egk1", "PIN.CH", "card", CARDS_PIN_OP_VERIFY, &d, &out), 0);
    assert_int_equal(out.result, CARDS_PIN_RESULT_TRANSPORT_PIN);
    assert_int_equal(start(w, "egk1", "PIN.XX", "card", CARDS_PIN_OP_VERIFY, &d, &out), -ENOKEY);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(names_are_the_xsd_enumerations),
        cmocka_unit_test(verify_right_pin_resets_tries_and_verifies),
        cmocka_unit_test(three_wrong_pins_block_and_a_fourth_was_blocked),
        cmocka_unit_test(blocking_without_puk_uses_is_puk_blocked),
        cmocka_unit_test(verify_transport_empty_disabled),
        cmocka_unit_test(change_from_verifiable),
        cmocka_unit_test(change_checks_the_new_pin_before_any_try),
        cmocka_unit_test(change_from_transport_pin),
        cmocka_unit_test(change_from_empty_pin_asks_only_the_new_one),
        cmocka_unit_test(unblock_with_puk_recovers_the_pin),
        cmocka_unit_test(unblock_with_a_new_pin),
        cmocka_unit_test(pin_qes_gets_no_new_pin_on_unblock),
        cmocka_unit_test(wrong_puks_use_up_the_puk),
        cmocka_unit_test(the_tenth_puk_use_is_the_last),
        cmocka_unit_test(unblock_refuses_transport_and_empty),
        cmocka_unit_test(unblock_of_a_verifiable_pin_resets_its_counter),
        cmocka_unit_test(disable_and_enable_the_egk_pin),
        cmocka_unit_test(enable_disable_refusals),
        cmocka_unit_test(status_reports_each_state),
        cmocka_unit_test(session_keys_follow_the_card_type),
        cmocka_unit_test(apply_refuses_an_entry_that_does_not_match_the_plan),
    };
    const struct CMUnitTest world[] = {
        cmocka_unit_test_setup_teardown(demo_cards_have_the_pins_of_the_issue, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(typed_pin_verifies_only_its_session, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(wrong_pin_in_one_session_leaves_the_other, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(second_entry_on_a_busy_pad_is_refused, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(pad_times_out_on_the_virtual_clock, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(pulled_card_ends_its_wait_and_sessions, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(change_goes_step_by_step_on_the_pad, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(auto_pin_enters_the_stored_pin_and_persists, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(counters_persist_and_set_state_resets_them, world_setup,
                                        world_teardown),
    };
    int failed;

    clock_init(CLOCK_MODE_VIRTUAL);
    log_level_set(LOG_LEVEL_WARNING);
    failed = cmocka_run_group_tests_name("pin", pure, NULL, NULL);
    return failed +
           cmocka_run_group_tests_name("pin_world", world, world_group_setup, world_group_teardown);
}
