/* pinpad: the virtual PIN pad of each card terminal. A PIN operation that needs typing waits
 * on the pad of the terminal its card sits in; the pad asks step by step (PIN, PUK, new PIN,
 * new PIN again, pin.h) and shows a display text for each; what is typed arrives through
 * cards_pinpad_type() (control API, konctl pin type).
 *
 *   cards_pin_start ──plan needs no typing, or auto-PIN fills every step──> done at once (0)
 *        │ (1)
 *        v
 *     WAITING ──type (last step): apply, session, save──> done(outcome)
 *        │──timer CARDS_PINPAD_TIMEOUT_MS (virtual clock)──> done(TIMEOUT)
 *        │──cards_pinpad_cancel──> done(ABORTED)
 *        │──card pulled (eject -> cards__pins_card_removed)──> done(CARD_REMOVED)
 *        └──cards_pin_wait_cancel (the client went away)──> gone, no done
 *
 * Invariants:
 *  1. At most one wait per terminal (TIP1-A_4561: one prompt on a display); a second start is
 *     -EBUSY (the service answers 4060).
 *  2. A wait is unlinked and freed, its typed values wiped, before its done() runs, so done()
 *     may start the next operation on the same pad.
 *  3. done() runs exactly once per wait that cards_pin_start() reported as waiting (1),
 *     unless cards_pin_wait_cancel() came first.
 *  4. Typed values are never logged; the display text names the PIN, never the card holder.
 *  5. While a wait lasts, the terminal's display (display.c) shows the prompt of its current
 *     step (TIP1-A_4561); when it ends the display is cleared, unless another text (a
 *     RequestCard's DisplayMsg) replaced the prompt meanwhile. */
#include "cards/cards_internal.h"
#include "cards/pin.h"

#include "base/base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cards_pin_wait {
    struct cards_pin_wait *next;
    struct cards *c;
    char ct_id[STORE_ENTITY_ID_MAX + 1];
    char handle[CARDS_HANDLE_MAX + 1];
    char card[CARDS_NAME_MAX + 1];
    enum cards_type card_type;
    char pin_name[16];
    bool transport; /* the first step asks for the transport PIN */
    char session_key[CARDS_SESSION_KEY_MAX];
    enum cards_pin_op op;
    enum cards_pin_step steps[CARDS_PIN_STEPS_MAX];
    size_t n_steps;
    struct cards_pin_entry entry;         /* entry.n: the steps done */
    char shown[CARDS_PINPAD_DISPLAY_MAX]; /* the prompt put on the terminal's display */
    struct clock_timer *timer;
    int64_t deadline_ms;
    cards_pin_done_fn done;
    void *arg;
};

static struct cards_pin *pin_find(struct cards_card *card, const char *name)
{
    for (size_t i = 0; card && name && i < card->n_pins; i++)
        if (strcmp(card->pins[i].name, name) == 0)
            return &card->pins[i];
    return NULL;
}

/* The session side of an outcome (TIP1-A_4560) and saving the counters. */
static void finish(struct cards *c, const char *handle, const char *key, const char *pin_name,
                   enum cards_pin_op op, const struct cards_pin_outcome *out)
{
    bool wrong =
        out->refusal == CARDS_PIN_REFUSAL_NONE &&
        (out->result == CARDS_PIN_RESULT_REJECTED || out->result == CARDS_PIN_RESULT_NOWBLOCKED);
    int r = 0;

    if (op != CARDS_PIN_OP_STATUS && out->verified)
        r = cards_session_set_verified(c, handle, key, pin_name, true);
    else if (wrong && op != CARDS_PIN_OP_UNBLOCK && op != CARDS_PIN_OP_UNBLOCK_NEW_PIN)
        r = cards_session_set_verified(c, handle, key, pin_name, false);
    if (r < 0)
        (void)log_errno(LOG_LEVEL_WARNING, r, "cards: cannot record the session's PIN state");
    if (out->changed)
        (void)cards_save(c);
}

static void wait_free(struct cards_pin_wait *w)
{
    if (!w)
        return;
    clock_timer_free(w->timer);
    explicit_bzero(&w->entry, sizeof(w->entry)); /* invariant 4 */
    free(w);
}

static void unlink_wait(struct cards *c, struct cards_pin_wait *w)
{
    for (struct cards_pin_wait **p = &c->waits; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            return;
        }
    }
}

static void display_text(const struct cards_pin_wait *w, char *buf, size_t size);

/* TIP1-A_4561: the prompt of the current step on the terminal's display (display.c), for
 * as long as the pad waits (TIP1-A_6725). */
static void prompt_show(struct cards *c, struct cards_pin_wait *w)
{
    display_text(w, w->shown, sizeof(w->shown));
    (void)cards_terminal_display_set(c, w->ct_id, w->shown);
}

/* Clears the display unless something else (a RequestCard's DisplayMsg) replaced the
 * prompt meanwhile. */
static void prompt_clear(struct cards *c, const struct cards_pin_wait *w)
{
    const struct cards_terminal *t = cards_terminal_find(c, w->ct_id);

    if (t && w->shown[0] && strcmp(t->display, w->shown) == 0)
        (void)cards_terminal_display_set(c, w->ct_id, "");
}

/* Invariant 2: unlink, free, then done. */
static void end_wait(struct cards *c, struct cards_pin_wait *w, const struct cards_pin_outcome *out)
{
    cards_pin_done_fn done = w->done;
    void *arg = w->arg;

    log_msg(LOG_LEVEL_DEBUG, "cards: %s of %s on '%s' ended on the PIN pad of %s",
            cards_pin_op_to_string(w->op), w->pin_name, w->card, w->ct_id);
    prompt_clear(c, w);
    unlink_wait(c, w);
    wait_free(w);
    done(out, arg);
}

static void on_timeout(void *arg)
{
    struct cards_pin_wait *w = arg;
    struct cards_pin_outcome out = {.refusal = CARDS_PIN_REFUSAL_TIMEOUT};

    end_wait(w->c, w, &out);
}

static struct cards_pin_wait *wait_of_ct(const struct cards *c, const char *ct_id)
{
    for (struct cards_pin_wait *w = c->waits; w; w = w->next)
        if (strcmp(w->ct_id, ct_id) == 0)
            return w;
    return NULL;
}

/* Applies a complete entry to the card's PIN. */
static int complete(struct cards *c, const char *handle, const char *key, const char *pin_name,
                    enum cards_pin_op op, const struct cards_pin_entry *e,
                    struct cards_pin_outcome *out)
{
    struct cards_card *card = cards_card_by_handle_mut(c, handle);
    struct cards_pin *p = pin_find(card, pin_name);
    int r;

    if (!p) {
        *out = (struct cards_pin_outcome){.refusal = CARDS_PIN_REFUSAL_CARD_REMOVED};
        return 0;
    }
    r = cards_pin_apply(p, op, card->type, e, out);
    if (r == 0)
        finish(c, handle, key, pin_name, op, out);
    return r;
}

/* Auto-PIN (CI): the pad enters the stored PIN or PUK for the leading steps that ask for
 * them; steps asking for a new PIN still wait for typing. */
static void auto_fill(const struct cards_pin *p, const enum cards_pin_step *steps, size_t n,
                      struct cards_pin_entry *e)
{
    for (e->n = 0; e->n < n; e->n++) {
        const char *v = steps[e->n] == CARDS_PIN_STEP_PIN   ? p->pin
                        : steps[e->n] == CARDS_PIN_STEP_PUK ? p->puk
                                                            : NULL;

        if (!v)
            break;
        (void)str_copy(e->values[e->n], sizeof(e->values[e->n]), v);
    }
}

int cards_pin_start(struct cards *c, const struct cards_pin_request *req, cards_pin_done_fn done,
                    void *arg, struct cards_pin_outcome *ret_out)
{
    struct cards_card *card = cards_card_by_handle_mut(c, req->handle);
    struct cards_pin *p = pin_find(card, req->pin_name);
    enum cards_pin_step steps[CARDS_PIN_STEPS_MAX];
    struct cards_pin_outcome out;
    struct cards_pin_entry e = {0};
    struct cards_pin_wait *w;
    bool verified;
    int n;

    if (!card || !card->ct_id[0])
        return -ENOENT;
    if (!p)
        return -ENOKEY;
    verified = cards_session_is_verified(c, req->handle, req->session_key, req->pin_name);
    n = cards_pin_plan(p, req->op, card->type, verified, steps, &out);
    if (n < 0)
        return n;
    if (n == 0) {
        finish(c, req->handle, req->session_key, req->pin_name, req->op, &out);
        *ret_out = out;
        return 0;
    }
    if (wait_of_ct(c, card->ct_id))
        return -EBUSY; /* invariant 1 */
    if (card->auto_pin)
        auto_fill(p, steps, (size_t)n, &e);
    if (e.n == (size_t)n) {
        n = complete(c, req->handle, req->session_key, req->pin_name, req->op, &e, &out);
        explicit_bzero(&e, sizeof(e));
        if (n == 0)
            *ret_out = out;
        return n;
    }
    w = calloc(1, sizeof(*w));
    if (!w || !(w->timer = clock_timer_new(on_timeout, w))) {
        explicit_bzero(&e, sizeof(e));
        free(w);
        return -ENOMEM;
    }
    w->c = c;
    (void)str_copy(w->ct_id, sizeof(w->ct_id), card->ct_id);
    (void)str_copy(w->handle, sizeof(w->handle), req->handle);
    (void)str_copy(w->card, sizeof(w->card), card->name);
    (void)str_copy(w->pin_name, sizeof(w->pin_name), req->pin_name);
    (void)str_copy(w->session_key, sizeof(w->session_key), req->session_key);
    w->card_type = card->type;
    w->transport = p->state == CARDS_PIN_TRANSPORT;
    w->op = req->op;
    memcpy(w->steps, steps, sizeof(steps));
    w->n_steps = (size_t)n;
    w->entry = e;
    explicit_bzero(&e, sizeof(e));
    w->done = done;
    w->arg = arg;
    w->deadline_ms = clock_now_ms() + CARDS_PINPAD_TIMEOUT_MS;
    clock_timer_start(w->timer, CARDS_PINPAD_TIMEOUT_MS);
    w->next = c->waits;
    c->waits = w;
    prompt_show(c, w);
    log_msg(LOG_LEVEL_DEBUG, "cards: %s of %s on '%s' waits on the PIN pad of %s",
            cards_pin_op_to_string(w->op), w->pin_name, w->card, w->ct_id);
    return 1;
}

void cards_pin_wait_cancel(struct cards *c, void *arg)
{
    for (struct cards_pin_wait *w = c ? c->waits : NULL; w; w = w->next) {
        if (w->arg == arg) {
            prompt_clear(c, w);
            unlink_wait(c, w);
            wait_free(w);
            return;
        }
    }
}

static void display_text(const struct cards_pin_wait *w, char *buf, size_t size)
{
    if (w->entry.n >= w->n_steps) {
        (void)snprintf(buf, size, "%s", "");
        return;
    }
    switch (w->steps[w->entry.n]) {
    case CARDS_PIN_STEP_PIN:
        (void)snprintf(buf, size, w->transport ? "Transport-PIN %s eingeben" : "%s eingeben",
                       w->pin_name);
        break;
    case CARDS_PIN_STEP_PUK:
        (void)snprintf(buf, size, "PUK zu %s eingeben", w->pin_name);
        break;
    case CARDS_PIN_STEP_NEW:
        (void)snprintf(buf, size, "Neue %s eingeben", w->pin_name);
        break;
    default:
        (void)snprintf(buf, size, "Neue %s wiederholen", w->pin_name);
        break;
    }
}

int cards_pinpad_view(const struct cards *c, const char *ct_id, struct cards_pinpad_view *ret)
{
    const struct cards_pin_wait *w;

    if (!cards_terminal_find(c, ct_id))
        return -ENOENT;
    memset(ret, 0, sizeof(*ret));
    w = wait_of_ct(c, ct_id);
    if (!w)
        return 0;
    ret->waiting = true;
    (void)str_copy(ret->card, sizeof(ret->card), w->card);
    ret->card_type = w->card_type;
    (void)str_copy(ret->pin_name, sizeof(ret->pin_name), w->pin_name);
    ret->op = w->op;
    display_text(w, ret->display, sizeof(ret->display));
    ret->step = (unsigned)w->entry.n + 1;
    ret->steps = (unsigned)w->n_steps;
    ret->deadline_ms = w->deadline_ms;
    return 0;
}

static bool digits_are_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n < 1 || n > CARDS_PIN_ENTRY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

int cards_pinpad_type(struct cards *c, const char *ct_id, const char *digits, bool *ret_done)
{
    struct cards_pin_wait *w;
    struct cards_pin_outcome out;
    int r;

    if (!cards_terminal_find(c, ct_id))
        return -ENOENT;
    w = wait_of_ct(c, ct_id);
    if (!w)
        return -EAGAIN;
    if (!digits_are_valid(digits))
        return -EINVAL;
    (void)str_copy(w->entry.values[w->entry.n], sizeof(w->entry.values[0]), digits);
    w->entry.n++;
    if (ret_done)
        *ret_done = w->entry.n == w->n_steps;
    if (w->entry.n < w->n_steps) {
        prompt_show(c, w);
        return 0;
    }
    clock_timer_stop(w->timer);
    r = complete(c, w->handle, w->session_key, w->pin_name, w->op, &w->entry, &out);
    if (r < 0) /* cannot happen: the plan made the steps; end the wait all the same */
        out = (struct cards_pin_outcome){.refusal = CARDS_PIN_REFUSAL_ABORTED};
    end_wait(c, w, &out);
    return 0;
}

int cards_pinpad_cancel(struct cards *c, const char *ct_id)
{
    struct cards_pin_wait *w;
    struct cards_pin_outcome out = {.refusal = CARDS_PIN_REFUSAL_ABORTED};

    if (!cards_terminal_find(c, ct_id))
        return -ENOENT;
    w = wait_of_ct(c, ct_id);
    if (!w)
        return -EAGAIN;
    end_wait(c, w, &out);
    return 0;
}

void cards__pins_card_removed(struct cards *c, const struct cards_card *card)
{
    struct cards_pin_wait *w = c->waits;
    struct cards_pin_outcome out = {.refusal = CARDS_PIN_REFUSAL_CARD_REMOVED};

    while (w) {
        struct cards_pin_wait *next = w->next;

        /* done() may start a new wait, on another card: restart from the head. */
        if (strcmp(w->handle, card->handle) == 0) {
            end_wait(c, w, &out);
            next = c->waits;
        }
        w = next;
    }
    cards__sessions_end(c, card->handle);
}

void cards__pins_done(struct cards *c)
{
    while (c->waits) {
        struct cards_pin_wait *w = c->waits;

        c->waits = w->next;
        wait_free(w);
    }
    free(c->sessions);
    c->sessions = NULL;
    c->n_sessions = c->cap_sessions = 0;
}

int cards_card_set_auto_pin(struct cards *c, const char *name, bool on)
{
    struct cards__entry *e = cards__catalog_find(c, name);

    if (!e)
        return -ENOENT;
    e->card.auto_pin = on;
    return cards_save(c);
}

int cards_card_set_pin_state(struct cards *c, const char *name, const char *pin_name,
                             enum cards_pin_state state)
{
    struct cards__entry *e = cards__catalog_find(c, name);
    struct cards_pin *p = e ? pin_find(&e->card, pin_name) : NULL;

    if (!e)
        return -ENOENT;
    if (!p)
        return -ENOKEY;
    if (state >= CARDS_PIN_STATE_MAX)
        return -EINVAL;
    p->state = state;
    p->tries_left =
        state == CARDS_PIN_BLOCKED || state == CARDS_PIN_PUK_BLOCKED ? 0 : CARDS_PIN_TRIES;
    p->puk_uses_left = state == CARDS_PIN_PUK_BLOCKED ? 0 : CARDS_PIN_PUK_USES;
    return cards_save(c);
}
