/* envelope: soap's safe parser, the only place in the code base that hands outside bytes to
 * libxml2's parser (STYLE.md rule 18). It turns a request body into a document, the operation
 * element and the call context, or into the reason it is refused.
 *
 *   bytes -> size cap (4280) -> encoding sniff (A_15606) -> libxml2 with guarded SAX
 *   (DOCTYPE, depth, PIs stop the parser) -> declared encoding -> SOAP 1.1 Envelope/Header/
 *   Body -> one operation element -> CCTX:Context
 *
 * Invariants:
 *  1. Parse options never include XML_PARSE_NOENT, XML_PARSE_DTDLOAD, XML_PARSE_DTDATTR,
 *     XML_PARSE_DTDVALID or XML_PARSE_HUGE, and always XML_PARSE_NONET: no entity is ever
 *     substituted and nothing is fetched (A_22923, TIP1-A_5541-01).
 *  2. A document type declaration stops the parser at once, before its internal subset is
 *     read, so entity bombs and external entities (XXE) never get a chance; a DOCTYPE that
 *     slipped through would still be refused from the finished tree (belt and braces).
 *  3. Element depth is counted while parsing; the parser stops past SOAP__DEPTH_MAX, so a
 *     10,000-deep document costs about a hundred elements of work.
 *  4. Only UTF-8 is accepted: a UTF-16/32 byte order mark or NUL byte, or an XML declaration
 *     naming another encoding, is refused with 4000 (A_15606).
 *  5. Nothing here logs; refusals carry a short detail text that names the element at fault
 *     and never echoes more than 64 bytes of any one input name (120 of a parser message). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>

#include "soap/soap_internal.h"

#define PARSE_OPTIONS                                                                              \
    (XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

struct guard {
    int depth;
    const char *why; /* set when a hook stopped the parser */
    startElementNsSAX2Func start;
    endElementNsSAX2Func end;
};

__attribute__((format(printf, 3, 4))) static int refuse(struct soap__refusal *reterr, int code,
                                                        const char *fmt, ...)
{
    va_list ap;

    reterr->code = code;
    reterr->must_understand = false;
    va_start(ap, fmt);
    (void)vsnprintf(reterr->detail, sizeof(reterr->detail), fmt, ap);
    va_end(ap);
    if (code == 4001)
        return -ENOMEM;
    return code == 4280 ? -E2BIG : -EBADMSG;
}

/* ---- guarded SAX ------------------------------------------------------------------------ */

static void guard_stop(xmlParserCtxtPtr ctxt, const char *why)
{
    struct guard *g = ctxt->_private;

    if (!g->why)
        g->why = why;
    xmlStopParser(ctxt);
}

static void on_internal_subset(void *ctx, const xmlChar *name, const xmlChar *external_id,
                               const xmlChar *system_id)
{
    guard_stop(ctx, "a document type declaration (DOCTYPE) is not allowed in SOAP messages");
}

static void on_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
    guard_stop(ctx, "processing instructions are not allowed in SOAP messages");
}

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
                     int nb_namespaces, const xmlChar **namespaces, int nb_attributes,
                     int nb_defaulted, const xmlChar **attributes)
{
    xmlParserCtxtPtr ctxt = ctx;
    struct guard *g = ctxt->_private;

    if (++g->depth > SOAP__DEPTH_MAX) {
        guard_stop(ctxt, "the document nests elements deeper than 100 levels");
        return;
    }
    g->start(ctx, localname, prefix, uri, nb_namespaces, namespaces, nb_attributes, nb_defaulted,
             attributes);
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    xmlParserCtxtPtr ctxt = ctx;
    struct guard *g = ctxt->_private;

    g->depth--;
    g->end(ctx, localname, prefix, uri);
}

/* ---- encoding (A_15606) ----------------------------------------------------------------- */

static int sniff_encoding(const unsigned char *d, size_t len, struct soap__refusal *reterr)
{
    if (len >= 2 && ((d[0] == 0xfe && d[1] == 0xff) || (d[0] == 0xff && d[1] == 0xfe)))
        return refuse(reterr, 4000, "only UTF-8 is accepted (A_15606), got UTF-16");
    if (memchr(d, 0, len))
        return refuse(reterr, 4000, "only UTF-8 is accepted (A_15606); the body has NUL bytes");
    return 0;
}

static int check_declared_encoding(xmlDocPtr doc, struct soap__refusal *reterr)
{
    const char *enc = (const char *)doc->encoding;
    char shown[65];

    if (!enc || strcasecmp(enc, "UTF-8") == 0 || strcasecmp(enc, "UTF8") == 0)
        return 0;
    soap__text_sanitize(enc, shown, sizeof(shown));
    return refuse(reterr, 4000, "only UTF-8 is accepted (A_15606), the document declares '%s'",
                  shown);
}

/* ---- tree helpers ----------------------------------------------------------------------- */

static bool is_element(xmlNodePtr n, const char *ns, const char *name)
{
    if (!n || n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, name) != 0)
        return false;
    if (!ns)
        return !n->ns;
    return n->ns && n->ns->href && strcmp((const char *)n->ns->href, ns) == 0;
}

static bool is_stray_text(xmlNodePtr n)
{
    return n->type == XML_TEXT_NODE && !xmlIsBlankNode(n);
}

xmlNodePtr soap_child(xmlNodePtr parent, const char *ns, const char *name)
{
    for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
        if (is_element(c, ns, name))
            return c;
    return NULL;
}

/* After tidy_tree() an element holds at most one text node between element children. */
static const char *text_of(xmlNodePtr el)
{
    for (xmlNodePtr c = el->children; c; c = c->next)
        if (c->type == XML_TEXT_NODE && c->content)
            return (const char *)c->content;
    return "";
}

const char *soap_child_text(xmlNodePtr parent, const char *ns, const char *name)
{
    xmlNodePtr c = soap_child(parent, ns, name);

    return c ? text_of(c) : NULL;
}

const char *soap_attr(xmlNodePtr node, const char *name)
{
    xmlAttrPtr a = node ? xmlHasNsProp(node, BAD_CAST name, NULL) : NULL;

    if (!a || a->type != XML_ATTRIBUTE_NODE)
        return NULL;
    return a->children && a->children->content ? (const char *)a->children->content : "";
}

/* ---- tree walk -------------------------------------------------------------------------- */

/* The node after n's subtree in document order, or NULL at the end. */
static xmlNodePtr skip_subtree(xmlNodePtr n, xmlNodePtr top, int *depth)
{
    while (n != top && !n->next) {
        n = n->parent;
        (*depth)--;
    }
    return n == top ? NULL : n->next;
}

/* Drops comments and PIs, merges adjacent text and refuses DTD nodes and excess depth; no
 * recursion, so the walk cannot exhaust the stack. depth is the element depth of n's parent. */
static int tidy_tree(xmlDocPtr doc, struct soap__refusal *reterr)
{
    xmlNodePtr top = (xmlNodePtr)doc;
    xmlNodePtr n = doc->children;
    int depth = 0;

    if (doc->intSubset || doc->extSubset)
        return refuse(reterr, 4000, "a document type declaration is not allowed");
    while (n) {
        xmlNodePtr next = n->next, parent = n->parent, prev;

        switch (n->type) {
        case XML_COMMENT_NODE:
        case XML_PI_NODE:
            prev = n->prev;
            xmlUnlinkNode(n);
            xmlFreeNode(n);
            if (prev && prev->type == XML_TEXT_NODE && next && next->type == XML_TEXT_NODE) {
                /* "a<!-- -->b" is one text "ab" (next is freed). */
                (void)xmlTextMerge(prev, next);
                n = prev;
            } else if (next) {
                n = next;
            } else if (parent == top) {
                n = NULL;
            } else {
                depth--;
                n = skip_subtree(parent, top, &depth);
            }
            continue;
        case XML_TEXT_NODE:
            if (next && next->type == XML_TEXT_NODE) {
                /* Appends next's text to n and frees next; look at n again. */
                (void)xmlTextMerge(n, next);
                continue;
            }
            break;
        case XML_ELEMENT_NODE:
            if (depth + 1 > SOAP__DEPTH_MAX)
                return refuse(reterr, 4000, "the document nests elements deeper than %d levels",
                              SOAP__DEPTH_MAX);
            if (n->children) {
                depth++;
                n = n->children;
                continue;
            }
            break;
        case XML_DTD_NODE:
        case XML_ENTITY_REF_NODE:
        case XML_ENTITY_DECL:
        case XML_ENTITY_NODE:
            return refuse(reterr, 4000, "entities and DTDs are not allowed in SOAP messages");
        default:
            break;
        }
        n = skip_subtree(n, top, &depth);
    }
    return 0;
}

/* ---- SOAP envelope ---------------------------------------------------------------------- */

static int check_headers(xmlNodePtr header, struct soap__refusal *reterr)
{
    for (xmlNodePtr h = header->children; h; h = h->next) {
        xmlChar *mu;
        bool must;
        int r;

        if (is_stray_text(h))
            return refuse(reterr, 4000, "soap:Header holds text outside its entries");
        if (h->type != XML_ELEMENT_NODE)
            continue;
        mu = xmlGetNsProp(h, BAD_CAST "mustUnderstand", BAD_CAST SOAP_NS_ENV);
        must = mu && (xmlStrEqual(mu, BAD_CAST "1") || xmlStrEqual(mu, BAD_CAST "true"));
        xmlFree(mu);
        if (must) {
            /* SOAP 1.1 section 4.2.3: no header entry is processed here. */
            r = refuse(reterr, 4000,
                       "the header entry '%.64s' must be understood, but the connector "
                       "processes no header entries",
                       (const char *)h->name);
            reterr->must_understand = true;
            return r;
        }
    }
    return 0;
}

static int check_envelope(xmlDocPtr doc, xmlNodePtr *ret_op, struct soap__refusal *reterr)
{
    xmlNodePtr env = xmlDocGetRootElement(doc), header = NULL, body = NULL, op = NULL;
    int r;

    if (!env)
        return refuse(reterr, 4000, "the document has no root element");
    if (env->ns && env->ns->href && xmlStrEqual(env->ns->href, BAD_CAST SOAP__NS_ENV12))
        return refuse(reterr, 4000,
                      "SOAP 1.2 is not supported: the connector's base services speak SOAP 1.1 "
                      "(A_15601, envelope namespace " SOAP_NS_ENV ")");
    if (!is_element(env, SOAP_NS_ENV, "Envelope"))
        return refuse(reterr, 4000,
                      "the document is not a SOAP 1.1 envelope (root element '%.64s')",
                      (const char *)env->name);
    for (xmlNodePtr c = env->children; c; c = c->next) {
        if (is_stray_text(c))
            return refuse(reterr, 4000, "soap:Envelope holds text outside its elements");
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (is_element(c, SOAP_NS_ENV, "Header") && !header && !body)
            header = c;
        else if (is_element(c, SOAP_NS_ENV, "Body") && !body)
            body = c;
        else
            return refuse(reterr, 4000, "unexpected element '%.64s' in soap:Envelope",
                          (const char *)c->name);
    }
    if (!body)
        return refuse(reterr, 4000, "the envelope has no soap:Body");
    if (header) {
        r = check_headers(header, reterr);
        if (r < 0)
            return r;
    }
    for (xmlNodePtr c = body->children; c; c = c->next) {
        if (is_stray_text(c))
            return refuse(reterr, 4000, "soap:Body holds text outside its element");
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (op)
            return refuse(reterr, 4000, "soap:Body must hold exactly one element, it holds more");
        op = c;
    }
    if (!op)
        return refuse(reterr, 4000, "soap:Body is empty");
    if (!op->ns || !op->ns->href || !op->ns->href[0])
        return refuse(reterr, 4000, "the operation element '%.64s' has no namespace",
                      (const char *)op->name);
    *ret_op = op;
    return 0;
}

/* ---- call context (ConnectorContext.xsd) ------------------------------------------------ */

static int copy_field(xmlNodePtr el, char *dst, size_t size, struct soap__refusal *reterr)
{
    const char *text = text_of(el);
    size_t bytes = strlen(text), chars = 0;

    for (xmlNodePtr c = el->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return refuse(reterr, 4000, "Context/%s must hold text only", (const char *)el->name);
    for (size_t i = 0; i < bytes; i++)
        chars += ((unsigned char)text[i] & 0xc0) != 0x80;
    if (chars > SOAP_CONTEXT_ID_MAX)
        return refuse(reterr, 4000, "Context/%s is longer than %d characters (ConnectorCommon.xsd)",
                      (const char *)el->name, SOAP_CONTEXT_ID_MAX);
    /* Ids of the info model are ASCII (store_entity_id_is_valid); longer UTF-8 cannot match
     * one and does not fit the fixed buffer. */
    if (bytes >= size)
        return refuse(reterr, 4000, "Context/%s must fit in %d bytes of UTF-8",
                      (const char *)el->name, SOAP_CONTEXT_ID_MAX);
    memcpy(dst, text, bytes + 1);
    return 0;
}

static int parse_context(xmlNodePtr op, struct soap_context *ret_ctx, struct soap__refusal *reterr)
{
    struct soap_context ctx = {0};
    struct {
        const char *name;
        char *dst;
        bool seen;
    } fields[] = {
        {"MandantId", ctx.mandant_id, false},
        {"ClientSystemId", ctx.client_system_id, false},
        {"WorkplaceId", ctx.workplace_id, false},
        {"UserId", ctx.user_id, false},
    };
    xmlNodePtr found = NULL;
    int r;

    for (xmlNodePtr c = op->children; c; c = c->next) {
        if (!is_element(c, SOAP_NS_CCTX, "Context"))
            continue;
        if (found)
            return refuse(reterr, 4000, "the request has more than one CCTX:Context");
        found = c;
    }
    if (found) {
        ctx.present = true;
        for (xmlNodePtr c = found->children; c; c = c->next) {
            size_t i = 0;

            if (is_stray_text(c))
                return refuse(reterr, 4000, "CCTX:Context holds text outside its elements");
            if (c->type != XML_ELEMENT_NODE)
                continue;
            while (i < ARRAY_SIZE(fields) && !is_element(c, SOAP_NS_CONN, fields[i].name))
                i++;
            if (i == ARRAY_SIZE(fields))
                return refuse(reterr, 4000, "unexpected element '%.64s' in CCTX:Context",
                              (const char *)c->name);
            if (fields[i].seen)
                return refuse(reterr, 4000, "CCTX:Context has more than one %s", fields[i].name);
            fields[i].seen = true;
            r = copy_field(c, fields[i].dst, SOAP_CONTEXT_ID_MAX + 1, reterr);
            if (r < 0)
                return r;
        }
    }
    *ret_ctx = ctx;
    return 0;
}

/* ---- parse ------------------------------------------------------------------------------ */

static int parse_error(xmlParserCtxtPtr ctxt, struct soap__refusal *reterr)
{
    const xmlError *e = &ctxt->lastError;
    char msg[121];

    soap__text_sanitize(e->message ? e->message : "malformed", msg, sizeof(msg));
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    return refuse(reterr, 4000, "the body is not well-formed XML (line %d: %s)", e->line, msg);
}

/* bytes -> a tidy document (invariants 1 to 4), for envelopes and other documents alike. */
static int parse_document(const void *data, size_t len, xmlDocPtr *ret_doc,
                          struct soap__refusal *reterr)
{
    struct guard g = {0};
    xmlParserCtxtPtr ctxt = NULL;
    xmlDocPtr doc = NULL;
    int r;

    if (len > SOAP_DOCUMENT_MAX)
        return refuse(reterr, 4280, "the document has %zu bytes, at most %d are processed", len,
                      SOAP_DOCUMENT_MAX);
    if (len == 0)
        return refuse(reterr, 4000, "the request has no body");
    r = sniff_encoding(data, len, reterr);
    if (r < 0)
        return r;
    ctxt = xmlCreateMemoryParserCtxt(data, (int)len);
    if (!ctxt)
        return refuse(reterr, 4001, "out of memory");
    (void)xmlCtxtUseOptions(ctxt, PARSE_OPTIONS);
    g.start = ctxt->sax->startElementNs;
    g.end = ctxt->sax->endElementNs;
    ctxt->_private = &g;
    ctxt->sax->startElementNs = on_start;
    ctxt->sax->endElementNs = on_end;
    ctxt->sax->internalSubset = on_internal_subset;
    ctxt->sax->processingInstruction = on_pi;
    (void)xmlParseDocument(ctxt);
    doc = ctxt->myDoc;
    ctxt->myDoc = NULL;
    if (g.why) {
        r = refuse(reterr, 4000, "%s", g.why);
        goto out;
    }
    if (!doc || !ctxt->wellFormed) {
        r = ctxt->errNo == XML_ERR_NO_MEMORY ? refuse(reterr, 4001, "out of memory")
                                             : parse_error(ctxt, reterr);
        goto out;
    }
    r = check_declared_encoding(doc, reterr);
    if (r == 0)
        r = tidy_tree(doc, reterr);
    if (r < 0)
        goto out;
    *ret_doc = doc;
    doc = NULL;
out:
    if (doc)
        xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    return r;
}

int soap__envelope_parse(const void *data, size_t len, struct soap__request *ret_req,
                         struct soap__refusal *reterr)
{
    struct soap__request req = {0};
    xmlDocPtr doc = NULL;
    int r = parse_document(data, len, &doc, reterr);

    if (r == 0)
        r = check_envelope(doc, &req.op, reterr);
    if (r == 0)
        r = parse_context(req.op, &req.context, reterr);
    if (r < 0) {
        if (doc)
            xmlFreeDoc(doc);
        return r;
    }
    req.doc = doc;
    req.ns = (const char *)req.op->ns->href;
    req.name = (const char *)req.op->name;
    *ret_req = req;
    return 0;
}

int soap_xml_parse(const void *data, size_t len, xmlDocPtr *ret_doc, char *err, size_t err_size)
{
    struct soap__refusal why = {0};
    int r = parse_document(data, len, ret_doc, &why);

    if (r < 0 && err && err_size)
        (void)snprintf(err, err_size, "%s", why.detail);
    return r;
}

void soap__request_done(struct soap__request *req)
{
    if (!req)
        return;
    if (req->doc)
        xmlFreeDoc(req->doc);
    *req = (struct soap__request){0};
}

int soap_document_parse(const void *data, size_t len, xmlDocPtr *ret_doc, xmlNodePtr *ret_body,
                        char *err, size_t err_size)
{
    struct soap__request req = {0};
    struct soap__refusal why = {0};
    int r;

    r = soap__envelope_parse(data, len, &req, &why);
    if (r < 0) {
        if (err && err_size)
            (void)snprintf(err, err_size, "%s", why.detail);
        return r;
    }
    *ret_doc = req.doc;
    *ret_body = req.op;
    return 0;
}
