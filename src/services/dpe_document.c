/* dpe_document: checks that a document WriteDPE is to write is a DPE (DPE_Document.xsd
 * v1.1.0 of the Fachmodul NFDM) before it reaches the eGK. The schema itself is not compiled
 * in (it belongs to gematik's api-telematik); this file checks its structure:
 *
 *   DPE:DPE_Document @DPE_Version
 *     DPE:Persoenliche_Erklaerungen @ID_DPE="1.2.276.0.76.7.9" @DPE_letzte_Aktualisierung_time
 *                                   @DPE_letzte_Aktualisierung_date
 *       DPE:DPE_Versicherter { NFDM:Versicherter }
 *       DPE:DPE_Versicherter_Einwilligung?, DPE:DPE_Gewebe_Organspendeerklaerung?,
 *       DPE:DPE_Vorsorgevollmacht?, DPE:DPE_Patientenverfuegung?   (in this order)
 *
 * and the maxLength of every text field the two schemas limit (counted in characters).
 * The parse is soap's safe parser (soap_xml_parse). Interop tests validate what the connector
 * returns against the real XSD.
 *
 * Invariants:
 *  1. The reason for a refusal names the element or attribute, never its content (a DPE is
 *     personal data: names, addresses, the KVNR).
 *  2. The walk is iterative over a tree whose depth soap's parser already bounded. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "services/services_internal.h"

#define NS_DPE_DOC "http://ws.gematik.de/fa/nfds/DPE_Document/v1.1"
#define NS_NFDM "http://ws.gematik.de/fa/nfds/common/NFDM_Common/v1.1"
#define ID_DPE "1.2.276.0.76.7.9"

/* The optional parts of Persoenliche_Erklaerungen, in schema order. */
static const char *const optional_parts[] = {
    "DPE_Versicherter_Einwilligung",
    "DPE_Gewebe_Organspendeerklaerung",
    "DPE_Vorsorgevollmacht",
    "DPE_Patientenverfuegung",
};

/* maxLength of the text fields (DPE_Document.xsd, NFDM_Common_v1_1.xsd), by local name. */
static const struct {
    const char *name;
    size_t max;
} field_limits[] = {
    {"DPE_VE_Arzt_Nachname", 45},
    {"DPE_VE_Arzt_Vorname", 45},
    {"DPE_GO_Beschreibung", 200},
    {"DPE_VV_Beschreibung", 200},
    {"DPE_PV_Beschreibung", 200},
    {"DPE_VV_E-Mail", 40},
    {"DPE_VV_Faxnummer", 25},
    {"DPE_VV_Name_Bevollmaechtigter", 45},
    {"DPE_VV_Vorname_Bevollmaechtigter", 45},
    {"DPE_VV_Telefon_Bevollmaechtigter", 25},
    {"Versicherten_ID", 10},
    {"Vorname", 45},
    {"Nachname", 45},
    {"Vorsatzwort", 20},
    {"Namenszusatz", 20},
    {"Titel", 20},
    {"Geschlecht", 1},
    {"Postleitzahl", 10},
    {"Ort", 40},
    {"Strasse", 46},
    {"Hausnummer", 9},
    {"Anschriftenzusatz", 40},
    {"Wohnsitzlaendercode", 3},
};

static bool is_el(xmlNodePtr n, const char *ns, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && n->ns &&
           strcmp((const char *)n->ns->href, ns) == 0 && strcmp((const char *)n->name, name) == 0;
}

static xmlNodePtr next_element(xmlNodePtr n)
{
    while (n && n->type != XML_ELEMENT_NODE)
        n = n->next;
    return n;
}

static bool attr_present(xmlNodePtr n, const char *name)
{
    const char *v = soap_attr(n, name);

    return v && v[0];
}

/* Characters of UTF-8 text (the parser made sure it is valid UTF-8). */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* Invariant 2: every element of the document, in document order, without recursion. */
static int check_field_limits(xmlNodePtr root, char *why, size_t why_size)
{
    xmlNodePtr n = root;

    while (n) {
        if (n->type == XML_ELEMENT_NODE && n->ns &&
            (strcmp((const char *)n->ns->href, NS_DPE_DOC) == 0 ||
             strcmp((const char *)n->ns->href, NS_NFDM) == 0)) {
            for (size_t i = 0; i < ARRAY_SIZE(field_limits); i++) {
                xmlChar *text;
                size_t chars;

                if (strcmp((const char *)n->name, field_limits[i].name) != 0)
                    continue;
                text = xmlNodeGetContent(n);
                chars = text ? utf8_chars((const char *)text) : 0;
                xmlFree(text);
                if (chars > field_limits[i].max) {
                    (void)snprintf(why, why_size, "%s has more than %zu characters",
                                   field_limits[i].name, field_limits[i].max);
                    return -EBADMSG;
                }
            }
        }
        if (n->children) {
            n = n->children;
            continue;
        }
        while (n != root && !n->next)
            n = n->parent;
        n = n == root ? NULL : n->next;
    }
    return 0;
}

static int check_structure(xmlNodePtr root, char *why, size_t why_size)
{
    xmlNodePtr pe, part;
    size_t next_optional = 0;

    if (!is_el(root, NS_DPE_DOC, "DPE_Document")) {
        (void)snprintf(why, why_size, "the root element must be DPE_Document of %s", NS_DPE_DOC);
        return -EBADMSG;
    }
    if (!attr_present(root, "DPE_Version")) {
        (void)snprintf(why, why_size, "DPE_Document needs the attribute DPE_Version");
        return -EBADMSG;
    }
    pe = next_element(root->children);
    if (!is_el(pe, NS_DPE_DOC, "Persoenliche_Erklaerungen") || next_element(pe->next)) {
        (void)snprintf(why, why_size,
                       "DPE_Document must hold exactly one Persoenliche_Erklaerungen");
        return -EBADMSG;
    }
    if (!soap_attr(pe, "ID_DPE") || strcmp(soap_attr(pe, "ID_DPE"), ID_DPE) != 0 ||
        !attr_present(pe, "DPE_letzte_Aktualisierung_time") ||
        !attr_present(pe, "DPE_letzte_Aktualisierung_date")) {
        (void)snprintf(why, why_size,
                       "Persoenliche_Erklaerungen needs ID_DPE=\"%s\", "
                       "DPE_letzte_Aktualisierung_time and DPE_letzte_Aktualisierung_date",
                       ID_DPE);
        return -EBADMSG;
    }
    part = next_element(pe->children);
    if (!is_el(part, NS_DPE_DOC, "DPE_Versicherter") ||
        !is_el(next_element(part->children), NS_NFDM, "Versicherter")) {
        (void)snprintf(why, why_size,
                       "Persoenliche_Erklaerungen must start with "
                       "DPE_Versicherter holding NFDM:Versicherter");
        return -EBADMSG;
    }
    for (part = next_element(part->next); part; part = next_element(part->next)) {
        while (next_optional < ARRAY_SIZE(optional_parts) &&
               !is_el(part, NS_DPE_DOC, optional_parts[next_optional]))
            next_optional++;
        if (next_optional == ARRAY_SIZE(optional_parts)) {
            (void)snprintf(why, why_size,
                           "unexpected element '%.64s' in Persoenliche_Erklaerungen (allowed "
                           "after DPE_Versicherter, once each and in this order: "
                           "DPE_Versicherter_Einwilligung, DPE_Gewebe_Organspendeerklaerung, "
                           "DPE_Vorsorgevollmacht, DPE_Patientenverfuegung)",
                           (const char *)part->name);
            return -EBADMSG;
        }
        next_optional++;
    }
    return 0;
}

int services__dpe_document_check(const void *doc, size_t len, char *why, size_t why_size)
{
    xmlDocPtr d = NULL;
    char err[SERVICES_DPE_WHY_MAX];
    int r;

    if (len > CARDS_DPE_DOCUMENT_MAX) {
        (void)snprintf(why, why_size, "the DPE has %zu bytes, at most %d are accepted", len,
                       CARDS_DPE_DOCUMENT_MAX);
        return -E2BIG;
    }
    r = soap_xml_parse(doc, len, &d, err, sizeof(err));
    if (r < 0) {
        if (r != -ENOMEM)
            (void)snprintf(why, why_size, "the DPE is not well-formed XML: %s", err);
        return r == -ENOMEM ? r : -EBADMSG;
    }
    r = check_structure(xmlDocGetRootElement(d), why, why_size);
    if (r == 0)
        r = check_field_limits(xmlDocGetRootElement(d), why, why_size);
    xmlFreeDoc(d);
    return r;
}
