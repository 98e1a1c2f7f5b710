/* pin: the PIN state machines of the simulated cards (pin.h draws the machine). Pure functions
 * over one struct cards_pin: no I/O, no clock, no logging.
 *
 * Decisions where the digest is silent or its tables were lost ([R], docs/card-service.md):
 *  - Blocked PINs: VerifyPin and ChangePin answer PinResult WASBLOCKED (technically OK, as
 *    gemILF_PS says for REJECTED/NOWBLOCKED/WASBLOCKED); EnablePin and DisablePin, which are
 *    no PIN uses, are refused with 4063; UnblockPin with the PUK used up with 4064.
 *  - Transport PIN: VerifyPin answers PinResult TRANSPORT_PIN without asking for the PIN (it
 *    must be changed first); empty PIN: VerifyPin is refused with 4065 (PinResult has no
 *    value for it); EnablePin, DisablePin and UnblockPin on either are refused with 4065.
 *  - The PUK counts uses, right or wrong (PUK 10 uses, digest section 9): a wrong PUK answers
 *    REJECTED with the uses left; the last use gone on a blocked PIN answers NOWBLOCKED and
 *    the PIN becomes PUK_BLOCKED for good.
 *  - A new PIN has 6 to 8 digits (4068) and is typed twice (4067); both are checked on the
 *    pad before the card sees anything, so they cost no try.
 *  - A successful VerifyPin, ChangePin or EnablePin leaves the session verified; UnblockPin
 *    does not (RESET RETRY COUNTER sets no security state). A wrong PIN clears the session's
 *    state of that PIN (the caller does that for its own session only, TIP1-A_4560).
 *  - A disabled PIN verifies without typing; DisablePin on a PIN that may not be disabled
 *    (all but the eGK's PIN.CH) is refused with 4085, as is UnblockPin with a new PIN for
 *    PIN.QES.
 *
 * Invariants:
 *  1. tries_left never exceeds CARDS_PIN_TRIES and is 0 exactly in BLOCKED and PUK_BLOCKED.
 *  2. A refusal changes nothing; only a result changes the PIN object.
 *  3. The secret is compared in constant time for its length. */
#include "cards/pin.h"

#include "base/base.h"

#include <errno.h>
#include <string.h>

static const char *const op_names[CARDS_PIN_OP_MAX] = {
    [CARDS_PIN_OP_VERIFY] = "VerifyPin",    [CARDS_PIN_OP_CHANGE] = "ChangePin",
    [CARDS_PIN_OP_UNBLOCK] = "UnblockPin",  [CARDS_PIN_OP_UNBLOCK_NEW_PIN] = "UnblockPin",
    [CARDS_PIN_OP_ENABLE] = "EnablePin",    [CARDS_PIN_OP_DISABLE] = "DisablePin",
    [CARDS_PIN_OP_STATUS] = "GetPinStatus",
};

static const char *const results[CARDS_PIN_RESULT_MAX] = {
    [CARDS_PIN_RESULT_OK] = "OK",
    [CARDS_PIN_RESULT_ERROR] = "ERROR",
    [CARDS_PIN_RESULT_REJECTED] = "REJECTED",
    [CARDS_PIN_RESULT_WASBLOCKED] = "WASBLOCKED",
    [CARDS_PIN_RESULT_NOWBLOCKED] = "NOWBLOCKED",
    [CARDS_PIN_RESULT_TRANSPORT_PIN] = "TRANSPORT_PIN",
};

static const char *const statuses[CARDS_PIN_STATUS_MAX] = {
    [CARDS_PIN_STATUS_VERIFIED] = "VERIFIED",
    [CARDS_PIN_STATUS_TRANSPORT_PIN] = "TRANSPORT_PIN",
    [CARDS_PIN_STATUS_EMPTY_PIN] = "EMPTY_PIN",
    [CARDS_PIN_STATUS_BLOCKED] = "BLOCKED",
    [CARDS_PIN_STATUS_VERIFIABLE] = "VERIFIABLE",
    [CARDS_PIN_STATUS_DISABLED] = "DISABLED",
};

const char *cards_pin_op_to_string(enum cards_pin_op op)
{
    return op < CARDS_PIN_OP_MAX ? op_names[op] : "?";
}

const char *cards_pin_result_to_string(enum cards_pin_result r)
{
    return r < CARDS_PIN_RESULT_MAX ? results[r] : "?";
}

const char *cards_pin_status_to_string(enum cards_pin_status s)
{
    return s < CARDS_PIN_STATUS_MAX ? statuses[s] : "?";
}

bool cards_pin_may_disable(enum cards_type type, const char *pin_name)
{
    return type == CARDS_TYPE_EGK && pin_name && strcmp(pin_name, "PIN.CH") == 0;
}

bool cards_pin_may_set_on_unblock(const char *pin_name)
{
    return pin_name && strcmp(pin_name, "PIN.QES") != 0;
}

static bool is_blocked(const struct cards_pin *p)
{
    return p->state == CARDS_PIN_BLOCKED || p->state == CARDS_PIN_PUK_BLOCKED;
}

static void refuse(struct cards_pin_outcome *out, enum cards_pin_refusal why, unsigned left)
{
    *out = (struct cards_pin_outcome){.refusal = why, .left_tries = left};
}

static void result(struct cards_pin_outcome *out, enum cards_pin_result r, unsigned left)
{
    *out = (struct cards_pin_outcome){.result = r, .left_tries = left};
}

static size_t set_steps(enum cards_pin_step steps[CARDS_PIN_STEPS_MAX], enum cards_pin_step a,
                        enum cards_pin_step b, enum cards_pin_step c, size_t n)
{
    steps[0] = a;
    steps[1] = b;
    steps[2] = c;
    return n;
}

static int plan_status(const struct cards_pin *p, bool session_verified,
                       struct cards_pin_outcome *out)
{
    static const enum cards_pin_status of_state[CARDS_PIN_STATE_MAX] = {
        [CARDS_PIN_VERIFIABLE] = CARDS_PIN_STATUS_VERIFIABLE,
        [CARDS_PIN_TRANSPORT] = CARDS_PIN_STATUS_TRANSPORT_PIN,
        [CARDS_PIN_EMPTY] = CARDS_PIN_STATUS_EMPTY_PIN,
        [CARDS_PIN_BLOCKED] = CARDS_PIN_STATUS_BLOCKED,
        [CARDS_PIN_PUK_BLOCKED] = CARDS_PIN_STATUS_BLOCKED,
        [CARDS_PIN_DISABLED] = CARDS_PIN_STATUS_DISABLED,
    };

    result(out, CARDS_PIN_RESULT_OK, p->tries_left);
    out->status = p->state < CARDS_PIN_STATE_MAX ? of_state[p->state] : CARDS_PIN_STATUS_BLOCKED;
    if (p->state == CARDS_PIN_VERIFIABLE && session_verified)
        out->status = CARDS_PIN_STATUS_VERIFIED;
    out->verified = out->status == CARDS_PIN_STATUS_VERIFIED;
    return 0;
}

int cards_pin_plan(const struct cards_pin *p, enum cards_pin_op op, enum cards_type type,
                   bool session_verified, enum cards_pin_step steps[CARDS_PIN_STEPS_MAX],
                   struct cards_pin_outcome *ret_out)
{
    const enum cards_pin_step PIN = CARDS_PIN_STEP_PIN, PUK = CARDS_PIN_STEP_PUK,
                              NEW = CARDS_PIN_STEP_NEW, AGAIN = CARDS_PIN_STEP_NEW_AGAIN;

    switch (op) {
    case CARDS_PIN_OP_STATUS:
        return plan_status(p, session_verified, ret_out);
    case CARDS_PIN_OP_VERIFY:
        if (is_blocked(p))
            result(ret_out, CARDS_PIN_RESULT_WASBLOCKED, 0);
        else if (p->state == CARDS_PIN_TRANSPORT)
            result(ret_out, CARDS_PIN_RESULT_TRANSPORT_PIN, p->tries_left);
        else if (p->state == CARDS_PIN_EMPTY)
            refuse(ret_out, CARDS_PIN_REFUSAL_CHANGE_FIRST, p->tries_left);
        else if (p->state == CARDS_PIN_DISABLED) {
            result(ret_out, CARDS_PIN_RESULT_OK, p->tries_left);
            ret_out->verified = true;
        } else
            return (int)set_steps(steps, PIN, PIN, PIN, 1);
        return 0;
    case CARDS_PIN_OP_CHANGE:
        if (is_blocked(p)) {
            result(ret_out, CARDS_PIN_RESULT_WASBLOCKED, 0);
            return 0;
        }
        if (p->state == CARDS_PIN_EMPTY)
            return (int)set_steps(steps, NEW, AGAIN, AGAIN, 2);
        return (int)set_steps(steps, PIN, NEW, AGAIN, 3);
    case CARDS_PIN_OP_UNBLOCK:
    case CARDS_PIN_OP_UNBLOCK_NEW_PIN:
        if (op == CARDS_PIN_OP_UNBLOCK_NEW_PIN && !cards_pin_may_set_on_unblock(p->name))
            refuse(ret_out, CARDS_PIN_REFUSAL_NOT_ALLOWED, p->tries_left);
        else if (p->state == CARDS_PIN_PUK_BLOCKED || p->puk_uses_left == 0)
            refuse(ret_out, CARDS_PIN_REFUSAL_PUK_BLOCKED, 0);
        else if (p->state == CARDS_PIN_TRANSPORT || p->state == CARDS_PIN_EMPTY)
            refuse(ret_out, CARDS_PIN_REFUSAL_CHANGE_FIRST, p->tries_left);
        else if (op == CARDS_PIN_OP_UNBLOCK_NEW_PIN)
            return (int)set_steps(steps, PUK, NEW, AGAIN, 3);
        else
            return (int)set_steps(steps, PUK, PUK, PUK, 1);
        return 0;
    case CARDS_PIN_OP_ENABLE:
    case CARDS_PIN_OP_DISABLE:
        if (op == CARDS_PIN_OP_DISABLE && !cards_pin_may_disable(type, p->name))
            refuse(ret_out, CARDS_PIN_REFUSAL_NOT_ALLOWED, p->tries_left);
        else if (is_blocked(p))
            refuse(ret_out, CARDS_PIN_REFUSAL_BLOCKED, 0);
        else if (p->state == CARDS_PIN_TRANSPORT || p->state == CARDS_PIN_EMPTY)
            refuse(ret_out, CARDS_PIN_REFUSAL_CHANGE_FIRST, p->tries_left);
        else if ((op == CARDS_PIN_OP_ENABLE) == (p->state == CARDS_PIN_VERIFIABLE))
            result(ret_out, CARDS_PIN_RESULT_OK, p->tries_left); /* already so */
        else
            return (int)set_steps(steps, PIN, PIN, PIN, 1);
        return 0;
    default:
        return -EINVAL;
    }
}

/* Invariant 3: no early exit on the first differing digit. */
static bool secret_equal(const char *stored, const char *typed)
{
    size_t a = strlen(stored), b = strlen(typed);
    unsigned diff = (unsigned)(a ^ b);

    for (size_t i = 0; i < b; i++)
        diff |= (unsigned char)typed[i] ^ (unsigned char)stored[i < a ? i : 0];
    return diff == 0;
}

static bool new_pin_is_valid(const char *s)
{
    size_t n = strlen(s);

    if (n < CARDS_PIN_LEN_MIN || n > CARDS_PIN_LEN_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* A wrong PIN: one try less; at 0 the PIN blocks (invariant 1). */
static void wrong_pin(struct cards_pin *p, struct cards_pin_outcome *out)
{
    if (p->tries_left > 0)
        p->tries_left--;
    if (p->tries_left == 0) {
        p->state = p->puk_uses_left > 0 ? CARDS_PIN_BLOCKED : CARDS_PIN_PUK_BLOCKED;
        result(out, CARDS_PIN_RESULT_NOWBLOCKED, 0);
    } else {
        result(out, CARDS_PIN_RESULT_REJECTED, p->tries_left);
    }
    out->changed = true;
}

static void set_pin(struct cards_pin *p, const char *value)
{
    explicit_bzero(p->pin, sizeof(p->pin));
    (void)str_copy(p->pin, sizeof(p->pin), value);
}

static void apply_unblock(struct cards_pin *p, const char *puk, const char *new_pin,
                          struct cards_pin_outcome *out)
{
    p->puk_uses_left--;
    if (!secret_equal(p->puk, puk)) {
        if (p->puk_uses_left == 0 && is_blocked(p)) {
            p->state = CARDS_PIN_PUK_BLOCKED;
            result(out, CARDS_PIN_RESULT_NOWBLOCKED, 0);
        } else {
            result(out, CARDS_PIN_RESULT_REJECTED, p->puk_uses_left);
        }
        out->changed = true;
        return;
    }
    if (new_pin)
        set_pin(p, new_pin);
    if (is_blocked(p))
        p->state = CARDS_PIN_VERIFIABLE;
    p->tries_left = CARDS_PIN_TRIES;
    result(out, CARDS_PIN_RESULT_OK, p->tries_left);
    out->changed = true;
}

int cards_pin_apply(struct cards_pin *p, enum cards_pin_op op, enum cards_type type,
                    const struct cards_pin_entry *e, struct cards_pin_outcome *ret_out)
{
    enum cards_pin_step steps[CARDS_PIN_STEPS_MAX];
    struct cards_pin_outcome pre;
    int n = cards_pin_plan(p, op, type, false, steps, &pre);
    const char *v[CARDS_PIN_STEPS_MAX];

    if (n <= 0 || !e || e->n != (size_t)n)
        return -EINVAL;
    for (size_t i = 0; i < CARDS_PIN_STEPS_MAX; i++)
        v[i] = e->values[i];
    switch (op) {
    case CARDS_PIN_OP_VERIFY:
        if (!secret_equal(p->pin, v[0])) {
            wrong_pin(p, ret_out);
            return 0;
        }
        result(ret_out, CARDS_PIN_RESULT_OK, CARDS_PIN_TRIES);
        ret_out->changed = p->tries_left != CARDS_PIN_TRIES;
        ret_out->verified = true;
        p->tries_left = CARDS_PIN_TRIES;
        return 0;
    case CARDS_PIN_OP_CHANGE: {
        const char *new_pin = p->state == CARDS_PIN_EMPTY ? v[0] : v[1];
        const char *again = p->state == CARDS_PIN_EMPTY ? v[1] : v[2];

        if (!new_pin_is_valid(new_pin))
            refuse(ret_out, CARDS_PIN_REFUSAL_NEW_LENGTH, p->tries_left);
        else if (strcmp(new_pin, again) != 0)
            refuse(ret_out, CARDS_PIN_REFUSAL_NEW_MISMATCH, p->tries_left);
        else if (p->state != CARDS_PIN_EMPTY && !secret_equal(p->pin, v[0]))
            wrong_pin(p, ret_out);
        else {
            set_pin(p, new_pin);
            if (p->state != CARDS_PIN_DISABLED)
                p->state = CARDS_PIN_VERIFIABLE;
            p->tries_left = CARDS_PIN_TRIES;
            result(ret_out, CARDS_PIN_RESULT_OK, p->tries_left);
            ret_out->verified = true;
            ret_out->changed = true;
        }
        return 0;
    }
    case CARDS_PIN_OP_UNBLOCK:
        apply_unblock(p, v[0], NULL, ret_out);
        return 0;
    case CARDS_PIN_OP_UNBLOCK_NEW_PIN:
        if (!new_pin_is_valid(v[1]))
            refuse(ret_out, CARDS_PIN_REFUSAL_NEW_LENGTH, p->tries_left);
        else if (strcmp(v[1], v[2]) != 0)
            refuse(ret_out, CARDS_PIN_REFUSAL_NEW_MISMATCH, p->tries_left);
        else
            apply_unblock(p, v[0], v[1], ret_out);
        return 0;
    case CARDS_PIN_OP_ENABLE:
    case CARDS_PIN_OP_DISABLE:
        if (!secret_equal(p->pin, v[0])) {
            wrong_pin(p, ret_out);
            return 0;
        }
        p->state = op == CARDS_PIN_OP_ENABLE ? CARDS_PIN_VERIFIABLE : CARDS_PIN_DISABLED;
        p->tries_left = CARDS_PIN_TRIES;
        result(ret_out, CARDS_PIN_RESULT_OK, p->tries_left);
        ret_out->verified = op == CARDS_PIN_OP_ENABLE;
        ret_out->changed = true;
        return 0;
    default:
        return -EINVAL;
    }
}
