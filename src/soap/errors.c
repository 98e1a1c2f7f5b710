/* errors: the one table of gematik error codes this connector answers with (STYLE.md rule 5).
 * Services map their outcome to a row of this table in one switch; soap turns the row into a
 * GERROR:Error trace (fault.c). Nothing else in the code base spells a code's text.
 *
 * Sources: gemSpec_Kon digest sections 1.3 and 7.3 (codes and meanings), gemILF_PS error
 * catalogue (severities and types where the digest names them). The German catalogue texts
 * are paraphrased in English. Where the catalogue's severity or type is lost, the row takes
 * Error and the type the code's meaning suggests (Security for access and PIN state,
 * Technical otherwise); such rows are marked [R] (reconstructed).
 *
 * Invariants:
 *  1. Codes are unique and ascending (test_errors checks), so lookup is a binary search.
 *  2. Severity is one of Info, Warning, Error, Fatal; type one of Security, Technical,
 *     Infrastructure, Business (the vocabularies of TelematikError and gemSpec_Kon 3.4).
 *  3. A text names the problem, never a remedy that depends on the caller's situation: the
 *     trace's Detail says which element or handle was at fault. */
#include <stdlib.h>

#include "soap/soap_internal.h"

static const struct soap_error_def errors[] = {
    /* ---- generic (TIP1-A_5058-01, A_14159) ---- */
    {4000, "Error", "Technical", "Syntax error: the request is not a valid message"},
    {4001, "Error", "Technical", "Internal error"},
    {4002, "Fatal", "Security", "The connector is in a critical operating state"},
    /* ---- access check TUC_KON_000 (digest 1.3) ---- */
    {4003, "Error", "Security", "No UserId although the operation needs an HBA card session"},
    {4004, "Error", "Security", "Invalid MandantId"},
    {4005, "Error", "Security", "Invalid ClientSystemId"},
    {4006, "Error", "Security", "Invalid WorkplaceId"},
    {4007, "Error", "Security", "Invalid card terminal id"},
    {4008, "Error", "Security", "Card not inserted"},
    {4009, "Error", "Security", "The SM-B is not managed for this Mandant"},
    {4010, "Error", "Security", "The client system is not assigned to the Mandant"},
    {4011, "Error", "Security", "The workplace is not assigned to the Mandant"},
    {4012, "Error", "Security", "The card terminal is not assigned to the Mandant"},
    /* [R] */
    {4016, "Error", "Security", "The card terminal is not reachable locally from the workplace"},
    {4021, "Error", "Security", "Not all mandatory fields of the call context are filled"},
    /* ---- card terminals, cards and PINs (digest 7.3, 7.7) [R] unless noted ---- */
    {4032, "Error", "Technical", "No connection to the HSM"},
    {4040, "Error", "Technical", "Connection to the card terminal could not be set up"},
    {4043, "Error", "Technical", "Timeout during PIN entry"},
    {4045, "Error", "Technical", "Error accessing the card"},
    {4047, "Error", "Technical", "Invalid card handle"},
    {4048, "Error", "Security", "Card-to-card authentication failed"},
    {4049, "Error", "Technical", "Aborted by the user"},
    {4050, "Error", "Technical", "No further card channel available"},
    {4051, "Error", "Technical", "Wrong card type"},
    {4052, "Error", "Security", "Access to the card denied"},
    /* Security/Error per the digest. */
    {4053, "Error", "Security", "Remote PIN entry is not possible"},
    {4060, "Error", "Technical", "Resource busy (card terminal, PIN pad or display)"},
    {4063, "Error", "Security", "The PIN is blocked"},
    {4064, "Error", "Security", "The PUK is blocked (used up)"},
    {4065, "Error", "Security", "Transport PIN or empty PIN: the PIN must be changed first"},
    {4067, "Error", "Technical", "The new PIN and its confirmation differ"},
    {4068, "Error", "Technical", "The new PIN has the wrong length"},
    {4071, "Error", "Technical", "No target card for card-to-card authentication"},
    {4072, "Error", "Technical", "Invalid PIN reference"},
    {4085, "Error", "Security", "Access conditions not met"},
    {4092, "Error", "Technical", "No remote PIN terminal configured for the workplace"},
    {4093, "Error", "Technical", "The card is used exclusively by another session"},
    {4094, "Error", "Technical", "Timeout accessing the card"},
    /* ---- signature, certificates, TSL, update, VPN (digest 7.3) [R] ---- */
    {4111, "Error", "Technical", "Creating nonQES XAdES signatures is not supported"},
    {4112, "Error", "Technical", "Verifying nonQES XAdES signatures is not supported"},
    {4127, "Error", "Technical", "TSL import failed"},
    {4128, "Error", "Technical", "Manual TSL import failed"},
    {4174, "Error", "Infrastructure", "The TI VPN tunnel could not be established"},
    {4183, "Error", "Security", "Integrity check of the update package failed"},
    {4184, "Error", "Technical", "Applying the update failed; the previous version was restored"},
    {4185, "Error", "Technical", "The update package does not match the firmware group"},
    {4192, "Error", "Security", "Card-to-card authentication with an eGK G1+ is no longer allowed"},
    {4209, "Error", "Technical", "The card type is not supported by this operation"},
    {4235, "Error", "Security", "TLS connection to the TSL service failed"},
    {4236, "Error", "Security", "The TSL service has the wrong technical role"},
    {4270, "Error", "Security", "The comfort signature UserId was used within the last 1000"},
    {4272, "Error", "Security", "The comfort signature UserId is too short"},
    /* ---- document limits (TIP1-A_4500-02, A_19052-01, A_22673) ---- */
    {4280, "Error", "Technical", "The document is too large (more than 25 MB)"},
    {4281, "Error", "Security", "The document contains forbidden content"},
};

static int cmp_code(const void *key, const void *elem)
{
    int code = *(const int *)key;
    const struct soap_error_def *d = elem;

    return (code > d->code) - (code < d->code);
}

const struct soap_error_def *soap_error_def(int code)
{
    return bsearch(&code, errors, ARRAY_SIZE(errors), sizeof(errors[0]), cmp_code);
}

const struct soap_error_def *soap__error_at(size_t i)
{
    return i < ARRAY_SIZE(errors) ? &errors[i] : NULL;
}

bool soap__error_is_client(int code)
{
    /* The request itself is wrong: resending it unchanged cannot succeed (SOAP 1.1 section
     * 4.4.1). 4021 is an incomplete context, a fault of the caller too. */
    return code == 4000 || code == 4021 || code == 4280 || code == 4281;
}
