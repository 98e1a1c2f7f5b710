/* display: what the display of a simulated card terminal shows. The CardTerminalService puts
 * DisplayMsg there while a RequestCard waits for a card, and clears it when the wait ends
 * (TIP1-A_6725: display texts only as long as needed); the control API and konctl show it.
 *
 * Invariants:
 *  1. The text is valid UTF-8 when the input was: a long text is cut at a character
 *     boundary, never inside one.
 *  2. A display is not persisted: after a restart every display is idle (""). */
#include "cards/cards_internal.h"

#include <errno.h>
#include <string.h>

int cards_terminal_display_set(struct cards *c, const char *ct_id, const char *text)
{
    struct cards_terminal *t = NULL;
    size_t len;

    for (size_t i = 0; ct_id && i < c->n_terms; i++)
        if (strcmp(c->terms[i].id, ct_id) == 0)
            t = &c->terms[i];
    if (!t)
        return -ENOENT;
    len = text ? strlen(text) : 0;
    if (len > CARDS_DISPLAY_MAX) {
        len = CARDS_DISPLAY_MAX;
        /* Invariant 1: back over continuation bytes to the lead byte, and drop it too. */
        while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80)
            len--;
    }
    if (len > 0)
        memcpy(t->display, text, len);
    t->display[len] = '\0';
    return 0;
}
