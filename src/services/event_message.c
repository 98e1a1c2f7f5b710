/* event_message: what a subscriber receives: which topics leave the connector, the
 * EVT:Event document of an event (EventService.xsd) and its CETP frame (TIP1-A_4596).
 *
 *   EVT:Event { Topic, Type, Severity, SubscriptionID, Message { Parameter { Key, Value }* } }
 *
 * The document is built once per event with the SubscriptionID empty; each subscription's
 * id is set just before its frame is written, so filters see the same document for all.
 * A frame is ASCII "CETP", the length of the message as 4 bytes big-endian, and the UTF-8
 * XML message with its declaration.
 *
 * Invariants:
 *  1. Every text in the document is valid XML 1.0 character data in valid UTF-8: a bad byte
 *     of a parameter becomes '?', so one odd card-holder name cannot break delivery.
 *  2. Internal topics never leave the connector: services__topic_is_public() is checked
 *     before anything is built. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "services/services_internal.h"

/* Topics that stay inside the connector (by prefix). MGM/LU_CHANGED is a client event. */
static const char *const internal_prefixes[] = {
    "MGM/",     /* administration audit: logins, admin changes, info model, factory reset */
    "SYSLOG",   /* the system log itself */
    "LOG/",     /* security-log internals (segments, seals, drops) */
    "USER/",    /* administrator accounts */
    "NK/",      /* network connector internals such as per-packet firewall drops */
    "CT/SLOT_", /* CT/SLOT_IN_USE, CT/SLOT_FREE: card-service bookkeeping */
};

bool services__topic_is_public(const char *topic)
{
    if (strncmp(topic, "MGM/LU_CHANGED/", 15) == 0)
        return true;
    for (size_t i = 0; i < ARRAY_SIZE(internal_prefixes); i++)
        if (strncmp(topic, internal_prefixes[i], strlen(internal_prefixes[i])) == 0)
            return false;
    return true;
}

/* ---- the EVT:Event document ------------------------------------------------------------- */

/* XML 1.0 allows no control characters but tab, CR and LF, and only valid UTF-8; a value
 * that breaks either is copied with '?' in place of each bad byte. NULL on allocation. */
static xmlChar *xml_text_dup(const char *s)
{
    size_t n = strlen(s);
    xmlChar *out = xmlMalloc(n + 1);
    size_t i = 0;

    if (!out)
        return NULL;
    while (i < n) {
        int len = (int)(n - i);
        int ch = xmlGetUTF8Char((const unsigned char *)s + i, &len);
        bool ok = ch >= 0 && (ch >= 0x20 || ch == '\t' || ch == '\n' || ch == '\r') &&
                  ch != 0xFFFE && ch != 0xFFFF;

        if (!ok) {
            out[i++] = '?';
            continue;
        }
        memcpy(out + i, s + i, (size_t)len);
        i += (size_t)len;
    }
    out[n] = '\0';
    return out;
}

static xmlNodePtr add_text(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *text)
{
    xmlNodePtr node = xmlNewChild(parent, ns, BAD_CAST name, NULL);
    xmlChar *t = node ? xml_text_dup(text ? text : "") : NULL;

    if (!t)
        return NULL;
    xmlNodeAddContent(node, t);
    xmlFree(t);
    return node;
}

xmlDocPtr services__event_doc_new(const struct evt_event *ev)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr root = doc ? xmlNewDocNode(doc, NULL, BAD_CAST "Event", NULL) : NULL;
    xmlNsPtr ns = root ? xmlNewNs(root, BAD_CAST SOAP_NS_EVT, BAD_CAST "EVT") : NULL;
    xmlNodePtr msg;

    if (!ns)
        goto fail;
    xmlSetNs(root, ns);
    xmlDocSetRootElement(doc, root);
    if (!add_text(root, ns, "Topic", ev->topic) ||
        !add_text(root, ns, "Type", evt_type_to_string(ev->type)) ||
        !add_text(root, ns, "Severity", evt_severity_to_string(ev->severity)) ||
        !add_text(root, ns, "SubscriptionID", ""))
        goto fail;
    msg = xmlNewChild(root, ns, BAD_CAST "Message", NULL);
    if (!msg)
        goto fail;
    for (size_t i = 0; i < ev->n_params; i++) {
        xmlNodePtr p = xmlNewChild(msg, ns, BAD_CAST "Parameter", NULL);

        if (!p || !add_text(p, ns, "Key", ev->params[i].key) ||
            !add_text(p, ns, "Value", ev->params[i].value))
            goto fail;
    }
    return doc;
fail:
    if (doc)
        xmlFreeDoc(doc);
    else if (root)
        xmlFreeNode(root);
    return NULL;
}

static xmlNodePtr subscription_id_node(xmlDocPtr doc)
{
    for (xmlNodePtr n = xmlDocGetRootElement(doc)->children; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST "SubscriptionID"))
            return n;
    return NULL;
}

int services__event_frame(xmlDocPtr doc, const char *sub_id, uint8_t **ret_frame, size_t *ret_len)
{
    xmlNodePtr id_node = subscription_id_node(doc);
    xmlChar *xml = NULL;
    uint8_t *frame = NULL;
    int size = 0, r = -ENOMEM;
    uint32_t be;

    if (!id_node)
        return -EINVAL;
    xmlNodeSetContent(id_node, NULL);
    xmlNodeAddContent(id_node, BAD_CAST sub_id);
    xmlDocDumpMemoryEnc(doc, &xml, &size, "UTF-8");
    if (!xml || size <= 0)
        goto out;
    frame = malloc(8 + (size_t)size);
    if (!frame)
        goto out;
    /* TIP1-A_4596: "CETP", then the length of the message, big-endian. */
    memcpy(frame, SERVICES_CETP_MAGIC, 4);
    be = htonl((uint32_t)size);
    memcpy(frame + 4, &be, 4);
    memcpy(frame + 8, xml, (size_t)size);
    *ret_frame = frame;
    *ret_len = 8 + (size_t)size;
    r = 0;
out:
    xmlFree(xml);
    return r;
}
