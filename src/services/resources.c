/* resources: how the EventService describes a card terminal (CT:CardTerminal,
 * CardTerminalInfo.xsd), a card (CARD:Card, CardService.xsd CardInfoType) and the connector
 * itself (CONN:Connector, ConnectorCommon.xsd) in its responses.
 *
 * Mapping decisions for the simulated world (the XSD asks for fields a simulation lacks):
 *  - ProductInformation of a terminal: vendor "KONN", product "VIRTKT" 1.0.0 (the pattern
 *    allows at most 5 and 8 characters), InformationDate = now.
 *  - MacAddress: a stable locally administered address (02-..) derived from the CtId by
 *    FNV-1a, so one terminal always shows the same MAC. No IPAddress (optional).
 *  - IS_PHYSICAL true: the simulated terminals stand in for eHealth terminals; false is
 *    for HSM-backed virtual ones.
 *  - CardVersion: COSVersion and ObjectSystemVersion both from the card's version "x.y.z";
 *    omitted when the card has none.
 *  - Iccsn and Kvnr only when they match the XSD patterns ([0-9]{20}, [A-Z][0-9]{9}).
 *  - Connector: VPNTIStatus Online when the LED panel's VPN state is up, with the time that
 *    state was first seen; VPNSISStatus is always Offline (no SIS is simulated) since the
 *    services started. OperatingState lists every active condition (Value true) with its
 *    instance in parentheses. The XSD requires at least one ErrorState, so with none active
 *    it lists every condition without instances with Value false and the time it last
 *    changed (or the services' start).
 *
 * Invariants:
 *  1. Elements appear in XSD order, each in its namespace; every prefix used below an
 *     element of this file is declared on that element.
 *  2. Nothing here changes state; a writer error returns -EIO and the caller ends the reply. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "services/services_internal.h"

int services__xml_start(xmlTextWriterPtr w, const char *prefix, const char *name, const char *ns)
{
    return xmlTextWriterStartElementNS(w, BAD_CAST prefix, BAD_CAST name, BAD_CAST ns) < 0 ? -EIO
                                                                                           : 0;
}

int services__xml_end(xmlTextWriterPtr w)
{
    return xmlTextWriterEndElement(w) < 0 ? -EIO : 0;
}

int services__xml_text(xmlTextWriterPtr w, const char *prefix, const char *name, const char *text)
{
    return xmlTextWriterWriteElementNS(w, BAD_CAST prefix, BAD_CAST name, NULL, BAD_CAST text) < 0
               ? -EIO
               : 0;
}

static int w_start(xmlTextWriterPtr w, const char *prefix, const char *name)
{
    return services__xml_start(w, prefix, name, NULL);
}

static int w_end(xmlTextWriterPtr w)
{
    return services__xml_end(w);
}

static int w_text(xmlTextWriterPtr w, const char *prefix, const char *name, const char *text)
{
    return services__xml_text(w, prefix, name, text);
}

static int w_declare(xmlTextWriterPtr w, const char *prefix, const char *uri)
{
    char attr[32];

    snprintf(attr, sizeof(attr), "xmlns:%s", prefix);
    return xmlTextWriterWriteAttribute(w, BAD_CAST attr, BAD_CAST uri) < 0 ? -EIO : 0;
}

static int w_bool(xmlTextWriterPtr w, const char *prefix, const char *name, bool v)
{
    return w_text(w, prefix, name, v ? "true" : "false");
}

/* ---- card terminal ---------------------------------------------------------------------- */

static int write_product_information(xmlTextWriterPtr w)
{
    char now[32];
    int r = 0;

    soap_datetime(clock_now_ms(), now, sizeof(now));
    r |= w_start(w, "PI", "ProductInformation");
    r |= w_text(w, "PI", "InformationDate", now);
    r |= w_start(w, "PI", "ProductTypeInformation");
    r |= w_text(w, "PI", "ProductType", "KT");
    r |= w_text(w, "PI", "ProductTypeVersion", "1.0.0");
    r |= w_end(w);
    r |= w_start(w, "PI", "ProductIdentification");
    r |= w_text(w, "PI", "ProductVendorID", "KONN");
    r |= w_text(w, "PI", "ProductCode", "VIRTKT");
    r |= w_start(w, "PI", "ProductVersion");
    r |= w_start(w, "PI", "Local");
    r |= w_text(w, "PI", "HWVersion", "1.0.0");
    r |= w_text(w, "PI", "FWVersion", "1.0.0");
    r |= w_end(w);
    r |= w_end(w);
    r |= w_end(w);
    r |= w_start(w, "PI", "ProductMiscellaneous");
    r |= w_text(w, "PI", "ProductVendorName", "konnektord");
    r |= w_text(w, "PI", "ProductName", "virtual eHealth card terminal");
    r |= w_end(w);
    r |= w_end(w);
    return r ? -EIO : 0;
}

static void mac_format(const char *ct_id, char *buf, size_t size)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a 64 offset basis */

    for (const char *p = ct_id; *p; p++) {
        h ^= (uint8_t)*p;
        h *= 1099511628211ULL;
    }
    snprintf(buf, size, "02-%02X-%02X-%02X-%02X-%02X", (unsigned)(h >> 32) & 0xff,
             (unsigned)(h >> 24) & 0xff, (unsigned)(h >> 16) & 0xff, (unsigned)(h >> 8) & 0xff,
             (unsigned)h & 0xff);
}

struct workplaces {
    struct store *st;
    xmlTextWriterPtr w;
    const char *ct_id;
    int r;
};

static void write_workplace_if_related(const char *mandant_id, const char *workplace_id, void *arg)
{
    struct workplaces *wp = arg;

    if (store_relation_exists(wp->st, STORE_REL_WORKPLACE_CT_LOCAL, workplace_id, wp->ct_id) ||
        store_relation_exists(wp->st, STORE_REL_WORKPLACE_CT_REMOTE, workplace_id, wp->ct_id))
        wp->r |= w_text(wp->w, "CONN", "WorkplaceId", workplace_id);
}

int services__write_card_terminal(struct services *s, xmlTextWriterPtr w,
                                  const struct cards_terminal *t, const char *mandant_id)
{
    struct workplaces wp = {.st = s->deps.store, .w = w, .ct_id = t->id};
    char mac[32], slots[16];
    int r = 0;

    mac_format(t->id, mac, sizeof(mac));
    snprintf(slots, sizeof(slots), "%u", t->slots);
    r |= services__xml_start(w, "CT", "CardTerminal", SOAP_NS_CT);
    r |= w_declare(w, "PI", SOAP_NS_PI);
    r |= w_declare(w, "CARDCMN", SOAP_NS_CARDCMN);
    r |= w_declare(w, "CONN", SOAP_NS_CONN);
    r |= write_product_information(w);
    r |= w_text(w, "CARDCMN", "CtId", t->id);
    r |= w_start(w, "CONN", "WorkplaceIds");
    /* The workplaces of the caller's Mandant that use the terminal, local or remote. */
    if (store_relation_foreach(s->deps.store, STORE_REL_MANDANT_WORKPLACE, mandant_id, NULL,
                               write_workplace_if_related, &wp) < 0)
        r |= -EIO;
    r |= wp.r;
    r |= w_end(w);
    r |= w_text(w, "CT", "Name", t->name[0] ? t->name : t->id);
    r |= w_text(w, "CT", "MacAddress", mac);
    r |= w_text(w, "CT", "Slots", slots);
    r |= w_bool(w, "CT", "IS_PHYSICAL", true);
    r |= w_bool(w, "CT", "Connected", t->connected);
    r |= w_end(w);
    return r ? -EIO : 0;
}

/* ---- card ------------------------------------------------------------------------------- */

static bool all_digits(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static bool kvnr_is_valid(const char *s)
{
    return isupper((unsigned char)s[0]) && all_digits(s + 1, 9);
}

static int write_version(xmlTextWriterPtr w, const char *name, const unsigned v[3])
{
    static const char *const parts[3] = {"Major", "Minor", "Revision"};
    char num[8];
    int r = w_start(w, "CARD", name);

    for (int i = 0; i < 3; i++) {
        snprintf(num, sizeof(num), "%u", v[i]);
        r |= w_text(w, "CARD", parts[i], num);
    }
    r |= w_end(w);
    return r ? -EIO : 0;
}

static bool version_parse(const char *s, unsigned v[3])
{
    char rest;

    return sscanf(s, "%u.%u.%u%c", &v[0], &v[1], &v[2], &rest) == 3 && v[0] <= 65535 &&
           v[1] <= 65535 && v[2] <= 65535;
}

int services__write_card(xmlTextWriterPtr w, const struct cards_card *card)
{
    char when[32], slot[16];
    unsigned v[3];
    int r = 0;

    snprintf(slot, sizeof(slot), "%u", card->slot);
    r |= services__xml_start(w, "CARD", "Card", SOAP_NS_CARD);
    r |= w_declare(w, "CARDCMN", SOAP_NS_CARDCMN);
    r |= w_declare(w, "CONN", SOAP_NS_CONN);
    r |= w_text(w, "CONN", "CardHandle", card->handle);
    r |= w_text(w, "CARDCMN", "CardType", cards_type_to_string(card->type));
    if (version_parse(card->card_version, v)) {
        r |= w_start(w, "CARD", "CardVersion");
        r |= write_version(w, "COSVersion", v);
        r |= write_version(w, "ObjectSystemVersion", v);
        r |= w_end(w);
    }
    if (all_digits(card->iccsn, 20))
        r |= w_text(w, "CARDCMN", "Iccsn", card->iccsn);
    r |= w_text(w, "CARDCMN", "CtId", card->ct_id);
    r |= w_text(w, "CARDCMN", "SlotId", slot);
    r |= w_text(w, "CARD", "InsertTime", soap_datetime(card->insert_time_ms, when, sizeof(when)));
    if (card->holder_name[0])
        r |= w_text(w, "CARD", "CardHolderName", card->holder_name);
    if (card->type == CARDS_TYPE_EGK && kvnr_is_valid(card->kvnr))
        r |= w_text(w, "CARD", "Kvnr", card->kvnr);
    if (card->expiry_ms > 0) {
        soap_datetime(card->expiry_ms, when, sizeof(when));
        when[10] = '\0'; /* xs:date: "2029-11-29" */
        r |= w_text(w, "CARD", "CertificateExpirationDate", when);
    }
    r |= w_end(w);
    return r ? -EIO : 0;
}

/* ---- connector -------------------------------------------------------------------------- */

static int write_vpn(xmlTextWriterPtr w, const char *name, bool online, int64_t since_ms)
{
    char when[32];
    int r = 0;

    r |= w_start(w, "CONN", name);
    r |= w_text(w, "CONN", "ConnectionStatus", online ? "Online" : "Offline");
    r |= w_text(w, "CONN", "Timestamp", soap_datetime(since_ms, when, sizeof(when)));
    r |= w_end(w);
    return r ? -EIO : 0;
}

static const char *error_state_type(enum evt_type t)
{
    /* ErrorState.Type knows Operation, Security and Infrastructure only. */
    return t == EVT_TYPE_SECURITY         ? "Security"
           : t == EVT_TYPE_INFRASTRUCTURE ? "Infrastructure"
                                          : "Operation";
}

static int write_error_state(xmlTextWriterPtr w, const struct ec_def *def, const char *instance,
                             bool value, int64_t since_ms)
{
    char name[160], when[32];
    int r = 0;

    if (instance && instance[0])
        snprintf(name, sizeof(name), "%s(%s)", def->name, instance);
    else
        snprintf(name, sizeof(name), "%s", def->name);
    r |= w_start(w, "CONN", "ErrorState");
    r |= w_text(w, "CONN", "ErrorCondition", name);
    r |= w_text(w, "CONN", "Severity", evt_severity_to_string(def->severity));
    r |= w_text(w, "CONN", "Type", error_state_type(def->type));
    r |= w_bool(w, "CONN", "Value", value);
    r |= w_text(w, "CONN", "ValidFrom", soap_datetime(since_ms, when, sizeof(when)));
    r |= w_end(w);
    return r ? -EIO : 0;
}

struct active_writer {
    xmlTextWriterPtr w;
    int r;
};

static void write_active(const struct ec_instance_view *v, void *arg)
{
    struct active_writer *aw = arg;
    const struct ec_def *def = ec_def_get(v->id);

    if (def)
        aw->r |= write_error_state(aw->w, def, v->instance, true, v->since_ms);
}

int services__write_connector(struct services *s, xmlTextWriterPtr w)
{
    struct active_writer aw = {.w = w};
    int r = 0;

    services__vpn_observe(s);
    r |= services__xml_start(w, "CONN", "Connector", SOAP_NS_CONN);
    r |= write_vpn(w, "VPNTIStatus", s->vpn == VPN_STATE_UP, s->vpn_since_ms);
    r |= write_vpn(w, "VPNSISStatus", false, s->started_ms);
    r |= w_start(w, "CONN", "OperatingState");
    if (ec_count_active(s->deps.ecs) > 0) {
        ec_foreach_active(s->deps.ecs, write_active, &aw);
        r |= aw.r;
    } else {
        for (int id = 0; id < EC_MAX; id++) {
            const struct ec_def *def = ec_def_get((enum ec_id)id);
            int64_t since = s->ec_changed_ms[id] ? s->ec_changed_ms[id] : s->started_ms;

            if (def && !def->parameterised)
                r |= write_error_state(w, def, NULL, false, since);
        }
    }
    r |= w_end(w);
    r |= w_end(w);
    return r ? -EIO : 0;
}
