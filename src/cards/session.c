/* session: card sessions (TIP1-A_4560). A security state reached by typing a PIN belongs to
 * the session it was reached in, never to the card: another Mandant on the same SMC-B, or
 * another user on the same HBA, must type the PIN again, and a wrong PIN in one session does
 * not take the state from another. The counters stay on the card (struct cards_pin).
 *
 * The session key per card type follows the information model of the digest (section 1.3):
 *   SMC-B, SM-B, HSM-B   cardHandle + MandantId
 *   HBA, HBA-qSig, HBAx  cardHandle + ClientSystemId + UserId
 *   eGK and the others   cardHandle (one session per card)
 *
 * Invariants:
 *  1. Only sessions that hold a state are kept: a session whose last bit is cleared goes.
 *  2. A session lives no longer than its card's insertion (the handle dies with it,
 *     cards__sessions_end from eject(), TIP1-A_4539).
 *  3. A bit stands for the PIN at that index of the card's pins[]; CARDS_PINS_MAX <= 32. */
#include "cards/cards_internal.h"
#include "cards/pin.h"

#include "base/base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(CARDS_PINS_MAX <= 32, "a session keeps one bit per PIN (invariant 3)");
_Static_assert(CARDS_SESSION_KEY_MAX == sizeof(((struct cards__session *)0)->key),
               "pin.h and cards_internal.h agree on the key size");

int cards_session_key(enum cards_type type, const char *mandant_id, const char *client_system_id,
                      const char *user_id, char *buf, size_t size)
{
    int n;

    switch (type) {
    case CARDS_TYPE_SMC_B:
    case CARDS_TYPE_SM_B:
    case CARDS_TYPE_HSM_B:
        n = snprintf(buf, size, "m:%s", mandant_id ? mandant_id : "");
        break;
    case CARDS_TYPE_HBA:
    case CARDS_TYPE_HBA_QSIG:
    case CARDS_TYPE_HBA_X:
        /* A newline cannot occur in either id (ConnectorContext.xsd strings are trimmed and
         * checked by soap), so the pair is unambiguous. */
        n = snprintf(buf, size, "u:%s\n%s", client_system_id ? client_system_id : "",
                     user_id ? user_id : "");
        break;
    default:
        n = snprintf(buf, size, "card");
        break;
    }
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int pin_index(const struct cards *c, const char *handle, const char *pin_name)
{
    const struct cards_card *card = cards_card_by_handle(c, handle);

    for (size_t i = 0; card && pin_name && i < card->n_pins; i++)
        if (strcmp(card->pins[i].name, pin_name) == 0)
            return (int)i;
    return -1;
}

static struct cards__session *find(const struct cards *c, const char *handle, const char *key)
{
    for (size_t i = 0; i < c->n_sessions; i++)
        if (strcmp(c->sessions[i].handle, handle) == 0 && strcmp(c->sessions[i].key, key) == 0)
            return &c->sessions[i];
    return NULL;
}

bool cards_session_is_verified(const struct cards *c, const char *handle, const char *key,
                               const char *pin_name)
{
    const struct cards__session *s = handle && key ? find(c, handle, key) : NULL;
    int i = s ? pin_index(c, handle, pin_name) : -1;

    return i >= 0 && (s->verified & (1u << i));
}

static void remove_at(struct cards *c, size_t i)
{
    c->sessions[i] = c->sessions[--c->n_sessions];
}

int cards_session_set_verified(struct cards *c, const char *handle, const char *key,
                               const char *pin_name, bool verified)
{
    struct cards__session *s;
    int i;

    if (!handle || !key)
        return -EINVAL;
    i = pin_index(c, handle, pin_name);
    if (i < 0)
        return -ENOENT;
    s = find(c, handle, key);
    if (!s && !verified)
        return 0;
    if (!s) {
        if (c->n_sessions == c->cap_sessions) {
            size_t cap = c->cap_sessions ? 2 * c->cap_sessions : 8;
            struct cards__session *n = realloc(c->sessions, cap * sizeof(*n));

            if (!n)
                return -ENOMEM;
            c->sessions = n;
            c->cap_sessions = cap;
        }
        s = &c->sessions[c->n_sessions++];
        memset(s, 0, sizeof(*s));
        if (str_copy(s->handle, sizeof(s->handle), handle) < 0 ||
            str_copy(s->key, sizeof(s->key), key) < 0) {
            c->n_sessions--;
            return -EINVAL;
        }
    }
    if (verified)
        s->verified |= 1u << i;
    else
        s->verified &= ~(1u << i);
    if (s->verified == 0)
        remove_at(c, (size_t)(s - c->sessions)); /* invariant 1 */
    return 0;
}

size_t cards_session_count(const struct cards *c)
{
    return c->n_sessions;
}

void cards__sessions_end(struct cards *c, const char *handle)
{
    size_t i = 0;

    while (handle && i < c->n_sessions) {
        if (strcmp(c->sessions[i].handle, handle) == 0)
            remove_at(c, i);
        else
            i++;
    }
}
