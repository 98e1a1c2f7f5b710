/* cards/pin: PIN behaviour of the simulated cards (issue #5), the part of the cards module the
 * CardService and the control API use:
 *
 *  - the PIN state machines (pin.c): pure functions over one struct cards_pin for VerifyPin,
 *    ChangePin, UnblockPin (with and without a new PIN), EnablePin, DisablePin and
 *    GetPinStatus, with results named as CardServiceCommon.xsd and CardService_v8_1_3.xsd
 *    name them;
 *  - card sessions (session.c, TIP1-A_4560): the security state "PIN verified" belongs to a
 *    session of a card, not to the card; the counters belong to the card;
 *  - the virtual PIN pad of each terminal (pinpad.c): an operation that needs a PIN waits
 *    until it is typed (control API, konctl pin type), the pad times out, the card is pulled
 *    or the waiter gives up; with a card's auto-PIN setting the pad enters the stored secret.
 *
 * Like the rest of cards it knows no SOAP and no gematik codes: a refusal is an enum that
 * the service maps to its code. Loop-thread only. Secrets (PINs, PUKs, what is typed) are
 * never logged and are wiped from memory once used. */
#ifndef KONN_CARDS_PIN_H
#define KONN_CARDS_PIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cards/cards.h"

/* ---- state machines (pin.c) ------------------------------------------------------------- */

enum cards_pin_op {
    CARDS_PIN_OP_VERIFY,
    CARDS_PIN_OP_CHANGE,
    CARDS_PIN_OP_UNBLOCK,         /* with the PUK, the PIN keeps its value */
    CARDS_PIN_OP_UNBLOCK_NEW_PIN, /* with the PUK and a new PIN (not for PIN.QES) */
    CARDS_PIN_OP_ENABLE,
    CARDS_PIN_OP_DISABLE,
    CARDS_PIN_OP_STATUS,
    CARDS_PIN_OP_MAX
};

/* "VerifyPin", "ChangePin", "UnblockPin", "UnblockPin" (SetNewPin), "EnablePin", "DisablePin",
 * "GetPinStatus": the operation names of the CardService. */
const char *cards_pin_op_to_string(enum cards_pin_op op);

/* PinResultEnum of CardServiceCommon.xsd. */
enum cards_pin_result {
    CARDS_PIN_RESULT_OK,
    CARDS_PIN_RESULT_ERROR,
    CARDS_PIN_RESULT_REJECTED,
    CARDS_PIN_RESULT_WASBLOCKED,
    CARDS_PIN_RESULT_NOWBLOCKED,
    CARDS_PIN_RESULT_TRANSPORT_PIN,
    CARDS_PIN_RESULT_MAX
};

/* "OK", "ERROR", "REJECTED", "WASBLOCKED", "NOWBLOCKED", "TRANSPORT_PIN". */
const char *cards_pin_result_to_string(enum cards_pin_result r);

/* PinStatusEnum of CardService_v8_1_3.xsd (the schema of CardService 8.1.2). */
enum cards_pin_status {
    CARDS_PIN_STATUS_VERIFIED,
    CARDS_PIN_STATUS_TRANSPORT_PIN,
    CARDS_PIN_STATUS_EMPTY_PIN,
    CARDS_PIN_STATUS_BLOCKED,
    CARDS_PIN_STATUS_VERIFIABLE,
    CARDS_PIN_STATUS_DISABLED,
    CARDS_PIN_STATUS_MAX
};

/* "VERIFIED", "TRANSPORT_PIN", "EMPTY_PIN", "BLOCKED", "VERIFIABLE", "DISABLED". */
const char *cards_pin_status_to_string(enum cards_pin_status s);

/* Why an operation was refused without a PinResult; the service maps each to one gematik
 * code (in brackets, digest section 7.3). */
enum cards_pin_refusal {
    CARDS_PIN_REFUSAL_NONE,
    CARDS_PIN_REFUSAL_BLOCKED,      /* the PIN is blocked (4063) */
    CARDS_PIN_REFUSAL_PUK_BLOCKED,  /* the PUK is used up (4064) */
    CARDS_PIN_REFUSAL_CHANGE_FIRST, /* transport or empty PIN: change it first (4065) */
    CARDS_PIN_REFUSAL_NEW_MISMATCH, /* the new PIN and its repetition differ (4067) */
    CARDS_PIN_REFUSAL_NEW_LENGTH,   /* the new PIN is not 6 to 8 digits (4068) */
    CARDS_PIN_REFUSAL_NOT_ALLOWED,  /* the card's access rules forbid it (4085) */
    CARDS_PIN_REFUSAL_TIMEOUT,      /* nothing typed in time (4043) */
    CARDS_PIN_REFUSAL_ABORTED,      /* cancelled on the PIN pad (4049) */
    CARDS_PIN_REFUSAL_CARD_REMOVED, /* the card was pulled while the pad waited (4008) */
    CARDS_PIN_REFUSAL_MAX
};

/* What the PIN pad asks for, one step at a time. */
enum cards_pin_step {
    CARDS_PIN_STEP_PIN,       /* the current PIN (or the transport PIN) */
    CARDS_PIN_STEP_PUK,       /* the PUK */
    CARDS_PIN_STEP_NEW,       /* a new PIN */
    CARDS_PIN_STEP_NEW_AGAIN, /* the new PIN once more */
    CARDS_PIN_STEP_MAX
};

#define CARDS_PIN_STEPS_MAX 3
/* A PIN is 6 to 8 digits (gematik card PINs), a PUK 8; what is typed may be up to 12. */
#define CARDS_PIN_LEN_MIN 6
#define CARDS_PIN_LEN_MAX 8
#define CARDS_PIN_ENTRY_MAX 12
/* What a card's counters start with (cards.h). */
#define CARDS_PIN_TRIES 3
#define CARDS_PIN_PUK_USES 10

/* The outcome of an operation: either refused (refusal != NONE, the other fields but
 * left_tries unset), or a result with the counter that matters (PIN tries, or PUK uses for
 * an unblock). */
struct cards_pin_outcome {
    enum cards_pin_refusal refusal;
    enum cards_pin_result result;
    enum cards_pin_status status; /* GetPinStatus only */
    unsigned left_tries;
    bool verified; /* the session now holds the security state of this PIN */
    bool changed;  /* the PIN object changed: save the world */
};

/* What was typed, one entry per step of cards_pin_plan(). */
struct cards_pin_entry {
    char values[CARDS_PIN_STEPS_MAX][CARDS_PIN_ENTRY_MAX + 1];
    size_t n;
};

/* Whether a PIN may be switched off: only the eGK's PIN.CH (TIP1-A_5486 lets the insured
 * do without it; HBA and SMC-B PINs protect keys of the holder's profession). */
bool cards_pin_may_disable(enum cards_type type, const char *pin_name);
/* Whether UnblockPin may set a new PIN: never for PIN.QES (gemILF_PS). */
bool cards_pin_may_set_on_unblock(const char *pin_name);

/* Decides what op needs before anything is typed; p is not changed. Returns the number of
 * steps (0..3) written to steps; with 0, *ret_out holds the final outcome. session_verified:
 * the caller's session holds this PIN's security state (GetPinStatus reports VERIFIED).
 * -EINVAL for a bad op. */
int cards_pin_plan(const struct cards_pin *p, enum cards_pin_op op, enum cards_type type,
                   bool session_verified, enum cards_pin_step steps[CARDS_PIN_STEPS_MAX],
                   struct cards_pin_outcome *ret_out);

/* Applies op with what was typed (one value per planned step) to p and reports the outcome.
 * Checks the new PIN (length, repetition) before any counter is touched. The state machine
 * (each arrow names the op; counters in brackets):
 *
 *   VERIFIABLE --verify ok [tries=3]--> VERIFIABLE (verified)
 *   VERIFIABLE --verify/change/enable/disable wrong [tries-1]--> VERIFIABLE (REJECTED)
 *              ... at tries 0 --> BLOCKED (NOWBLOCKED), or PUK_BLOCKED when no PUK use is left
 *   VERIFIABLE --change ok--> VERIFIABLE (new PIN, verified)
 *   VERIFIABLE --disable ok--> DISABLED          DISABLED --enable ok--> VERIFIABLE
 *   TRANSPORT  --change with the transport PIN--> VERIFIABLE (verified); wrong: as above
 *   EMPTY      --change (new PIN only)--> VERIFIABLE (verified)
 *   BLOCKED    --unblock PUK ok [uses-1, tries=3]--> VERIFIABLE (new PIN if asked)
 *   any        --unblock PUK wrong [uses-1]--> unchanged (REJECTED), at uses 0 a blocked PIN
 *              becomes PUK_BLOCKED (NOWBLOCKED)
 *
 * type is the card's (as for the plan). Returns 0, or -EINVAL when e does not match the
 * plan. */
int cards_pin_apply(struct cards_pin *p, enum cards_pin_op op, enum cards_type type,
                    const struct cards_pin_entry *e, struct cards_pin_outcome *ret_out);

/* ---- card sessions (session.c, TIP1-A_4560) ------------------------------------------- */

/* A session's key inside its card (decision of docs/card-service.md, from the digest's info
 * model, section 1.3): SMC-B, SM-B, HSM-B: the Mandant; HBA, HBA-qSig, HBAx: the client system
 * and the user; eGK and every other card: one session per card (key ""). */
#define CARDS_SESSION_KEY_MAX 130
int cards_session_key(enum cards_type type, const char *mandant_id, const char *client_system_id,
                      const char *user_id, char *buf, size_t size);

/* Whether the session (handle, key) holds the security state of PIN pin_name. */
bool cards_session_is_verified(const struct cards *c, const char *handle, const char *key,
                               const char *pin_name);
/* Sets or clears it. Sessions are created on first use; -ENOMEM. */
int cards_session_set_verified(struct cards *c, const char *handle, const char *key,
                               const char *pin_name, bool verified);
/* The number of sessions that hold some security state (diagnostics, tests). */
size_t cards_session_count(const struct cards *c);

/* ---- the virtual PIN pad (pinpad.c) ----------------------------------------------------- */

/* How long a PIN pad waits for the whole entry, in ms of connector time (the virtual clock
 * drives it). The terminal's own timeout is not in the digest; a minute is what the PIN
 * pads in the field allow. */
#define CARDS_PINPAD_TIMEOUT_MS 60000
#define CARDS_PINPAD_DISPLAY_MAX 48

struct cards_pin_wait;

/* Runs once when a waiting operation ends: out has the outcome (refusal TIMEOUT, ABORTED,
 * CARD_REMOVED when it ended without a result). The world is consistent and saved; the
 * callback must not insert or remove cards. */
typedef void (*cards_pin_done_fn)(const struct cards_pin_outcome *out, void *arg);

struct cards_pin_request {
    const char *handle;
    const char *pin_name;
    const char *session_key; /* cards_session_key() */
    enum cards_pin_op op;
};

/* Starts op on the card's PIN. Returns 0 with *ret_out set when it finished without typing
 * (a refusal, a status, a disabled PIN, or the card's auto-PIN entering everything), or 1
 * when the terminal's PIN pad now waits: done(arg) runs exactly once later unless
 * cards_pin_wait_cancel() comes first. -ENOENT: no inserted card with this handle;
 * -ENOKEY: the card has no PIN of this name; -EBUSY: the terminal's PIN pad already waits for
 * another entry (one at a time); -ENOMEM. */
int cards_pin_start(struct cards *c, const struct cards_pin_request *req, cards_pin_done_fn done,
                    void *arg, struct cards_pin_outcome *ret_out);

/* The waiter with this arg gives up (the client went away): its pad clears, done never runs.
 * Does nothing when no wait has this arg. */
void cards_pin_wait_cancel(struct cards *c, void *arg);

/* What a PIN pad shows (for the control API). Strings are copies. */
struct cards_pinpad_view {
    bool waiting;
    char card[CARDS_NAME_MAX + 1];
    enum cards_type card_type;
    char pin_name[16];
    enum cards_pin_op op;
    char display[CARDS_PINPAD_DISPLAY_MAX]; /* the text on the terminal, e.g. "PIN.CH eingeben" */
    unsigned step;                          /* 1-based */
    unsigned steps;
    int64_t deadline_ms; /* wall time */
};

/* -ENOENT: no such terminal. */
int cards_pinpad_view(const struct cards *c, const char *ct_id, struct cards_pinpad_view *ret);

/* Types digits on a terminal's PIN pad (the current step). -ENOENT: no such terminal;
 * -EAGAIN: the pad waits for nothing; -EINVAL: not 1 to 12 digits. On the last step the
 * operation completes and its done() runs before this returns; *ret_done (may be NULL) says
 * so. */
int cards_pinpad_type(struct cards *c, const char *ct_id, const char *digits, bool *ret_done);
/* Cancel on the PIN pad: the operation ends with CARDS_PIN_REFUSAL_ABORTED. -ENOENT,
 * -EAGAIN as for typing. */
int cards_pinpad_cancel(struct cards *c, const char *ct_id);

/* The auto-PIN setting of a catalog card (persisted in world.json). -ENOENT. */
int cards_card_set_auto_pin(struct cards *c, const char *name, bool on);

/* Sets a PIN object's state and resets its counters (3 tries, 10 PUK uses), so tests can
 * put a card into transport or empty state. The secret stays. -ENOENT, -ENOKEY. */
int cards_card_set_pin_state(struct cards *c, const char *name, const char *pin_name,
                             enum cards_pin_state state);

#endif
