/* ksr_xml: the bytes of the KSR's list_Updates operation (Konfigurationsdienst.wsdl 1.1,
 * Konfigurationsdienst.xsd 1.1.1): the request the connector sends (TUC_KON_282) and the
 * answer it reads, and, for konctl's test KSR, the reverse (read a request, write an answer).
 * It does not talk to the network and keeps no state.
 *
 *   listUpdatesRequest  { ProductVendorID, ProductCode, HWVersion, FWVersion }
 *   listUpdatesResponse { FirmwareGroupReleaseNotes?, UpdateInformation{0..999} }
 *     UpdateInformation { UpdateID, ProductVendorID, ProductCode, HWVersion, ProductName,
 *       CreationDate, DeploymentInformation { StartDate?, Deadline? },
 *       Firmware { FWVersion, FWPriority, Firmwarefiles*, Documentationfiles*,
 *                  FirmwareReleaseNotes }, UpdateInformationSignature }
 *
 * Invariants:
 *  1. Outside bytes reach libxml2 only through soap's safe parser (soap_document_parse: no
 *     DTD, no entities, no network, depth limit), after a size cap of UPD_KSR_RESPONSE_MAX.
 *  2. An answer is accepted only in the XSD's shape: every element in its order, in the KSR
 *     namespace, each value within its type's limits (versions N.N.N, dates YYYY-MM-DD, ids of
 *     [A-Za-z0-9_], file names that are safe single path components). Anything else refuses
 *     the whole answer (-EBADMSG with the element at fault): a half-read answer would offer
 *     half an update.
 *  3. Every string handed out is NUL-terminated, printable (control bytes refused) and within
 *     its documented length; nothing here logs. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>
#include <libxml/xmlwriter.h>

#include "base/base.h"
#include "soap/soap.h"
#include "update/update.h"

#define NS UPD_KSR_NS

/* ---- small checks ----------------------------------------------------------------------- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool upd_version_is_valid(const char *s)
{
    for (int part = 0; part < 3; part++) {
        int digits = 0;

        while (is_digit(*s) && digits < 4) {
            s++;
            digits++;
        }
        if (digits < 1 || digits > 3)
            return false;
        if (part < 2 && *s++ != '.')
            return false;
    }
    return *s == '\0';
}

int upd_version_compare(const char *a, const char *b)
{
    for (int part = 0; part < 3; part++) {
        long x = 0, y = 0;

        while (is_digit(*a))
            x = x * 10 + (*a++ - '0');
        while (is_digit(*b))
            y = y * 10 + (*b++ - '0');
        if (x != y)
            return x < y ? -1 : 1;
        if (*a == '.')
            a++;
        if (*b == '.')
            b++;
    }
    return 0;
}

static bool is_date(const char *s)
{
    static const char shape[] = "dddd-dd-dd";

    if (strlen(s) != sizeof(shape) - 1)
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? !is_digit(s[i]) : s[i] != shape[i])
            return false;
    return true;
}

static bool is_id(const char *s, size_t max)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");

    return s[n] == '\0' && n >= 1 && n <= max;
}

bool upd_file_name_is_safe(const char *name)
{
    size_t n = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");

    return name[n] == '\0' && n >= 1 && n <= UPD_KSR_FILE_NAME_MAX && name[0] != '.';
}

/* Counts UTF-8 characters; false on control bytes (tab, CR and LF are allowed in notes). */
static bool text_is_clean(const char *s, size_t max_chars)
{
    size_t chars = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') || *p == 0x7f)
            return false;
        chars += (*p & 0xc0) != 0x80;
    }
    return chars <= max_chars;
}

/* ---- the parse cursor ------------------------------------------------------------------- */

struct cursor {
    xmlNodePtr next; /* the next element child to look at, or NULL */
    char *err;
    size_t err_size;
};

__attribute__((format(printf, 2, 3))) static int bad(struct cursor *c, const char *fmt, ...)
{
    va_list ap;

    if (c->err && c->err_size) {
        va_start(ap, fmt);
        (void)vsnprintf(c->err, c->err_size, fmt, ap);
        va_end(ap);
    }
    return -EBADMSG;
}

static xmlNodePtr skip_to_element(xmlNodePtr n)
{
    while (n && n->type != XML_ELEMENT_NODE)
        n = n->next;
    return n;
}

static bool has_stray_text(xmlNodePtr parent)
{
    for (xmlNodePtr n = parent->children; n; n = n->next)
        if (n->type == XML_TEXT_NODE && !xmlIsBlankNode(n))
            return true;
    return false;
}

static int enter(struct cursor *c, xmlNodePtr parent, struct cursor *ret_inner)
{
    if (has_stray_text(parent))
        return bad(c, "'%.64s' holds text outside its elements", (const char *)parent->name);
    *ret_inner = (struct cursor){skip_to_element(parent->children), c->err, c->err_size};
    return 0;
}

static bool at(const struct cursor *c, const char *name)
{
    xmlNodePtr n = c->next;

    return n && strcmp((const char *)n->name, name) == 0 && n->ns && n->ns->href &&
           strcmp((const char *)n->ns->href, NS) == 0;
}

/* Takes the next element, which must be name. */
static int take(struct cursor *c, const char *name, xmlNodePtr *ret_node)
{
    if (!at(c, name))
        return c->next ? bad(c, "expected KSR:%s, found '%.64s'", name, (const char *)c->next->name)
                       : bad(c, "expected KSR:%s, found nothing", name);
    *ret_node = c->next;
    c->next = skip_to_element(c->next->next);
    return 0;
}

static int done(struct cursor *c, const char *parent)
{
    if (c->next)
        return bad(c, "unexpected element '%.64s' in %s", (const char *)c->next->name, parent);
    return 0;
}

/* The text of a leaf element; NULL (with err set) if it has element children. */
static const char *leaf_text(struct cursor *c, xmlNodePtr n)
{
    for (xmlNodePtr k = n->children; k; k = k->next)
        if (k->type == XML_ELEMENT_NODE) {
            (void)bad(c, "KSR:%s must hold text only", (const char *)n->name);
            return NULL;
        }
    for (xmlNodePtr k = n->children; k; k = k->next)
        if (k->type == XML_TEXT_NODE && k->content)
            return (const char *)k->content;
    return "";
}

enum kind { K_VERSION, K_DATE, K_ID, K_TEXT };

/* Takes the next element name as a string of kind into dst (size bytes). */
static int take_field(struct cursor *c, const char *name, enum kind kind, size_t max, char *dst,
                      size_t size)
{
    xmlNodePtr n = NULL;
    const char *t;
    bool ok = false;
    int r;

    r = take(c, name, &n);
    if (r < 0)
        return r;
    t = leaf_text(c, n);
    if (!t)
        return -EBADMSG;
    switch (kind) {
    case K_VERSION:
        ok = upd_version_is_valid(t);
        break;
    case K_DATE:
        ok = is_date(t);
        break;
    case K_ID:
        ok = is_id(t, max);
        break;
    case K_TEXT:
        ok = text_is_clean(t, max) && t[0];
        break;
    }
    if (!ok || strlen(t) >= size)
        return bad(c, "KSR:%s has a value outside its type", name);
    memcpy(dst, t, strlen(t) + 1);
    return 0;
}

/* Takes the next element name as free text of at most max characters (a new string). */
static int take_notes(struct cursor *c, const char *name, size_t max, char **ret_text)
{
    xmlNodePtr n = NULL;
    const char *t;
    char *copy;
    int r;

    r = take(c, name, &n);
    if (r < 0)
        return r;
    t = leaf_text(c, n);
    if (!t)
        return -EBADMSG;
    if (!text_is_clean(t, max))
        return bad(c, "KSR:%s is longer than %zu characters or holds control characters", name,
                   max);
    copy = strdup(t);
    if (!copy)
        return -ENOMEM;
    *ret_text = copy;
    return 0;
}

/* ---- answer ----------------------------------------------------------------------------- */

static int parse_file(struct cursor *c, xmlNodePtr n, struct upd_ksr_file *f)
{
    struct cursor in;
    char size[12];
    int64_t v = 0;
    int r;

    r = enter(c, n, &in);
    if (r < 0)
        return r;
    f->name = calloc(1, UPD_KSR_FILE_NAME_MAX + 1);
    if (!f->name)
        return -ENOMEM;
    r = take_field(&in, "Filename", K_TEXT, UPD_KSR_FILE_NAME_MAX, f->name,
                   UPD_KSR_FILE_NAME_MAX + 1);
    if (r < 0)
        return r;
    if (!upd_file_name_is_safe(f->name))
        return bad(c, "KSR:Filename '%.64s' is not a plain file name", f->name);
    /* FileSizeType: [0-9]{1,10}. */
    r = take_field(&in, "FileSize", K_TEXT, 10, size, sizeof(size));
    if (r < 0)
        return r;
    if (strspn(size, "0123456789") != strlen(size) || str_to_int64(size, &v) < 0 || v < 0)
        return bad(c, "KSR:FileSize '%s' is not a number of bytes", size);
    f->size = (uint64_t)v;
    r = take_notes(&in, "Notes", 256, &f->notes);
    if (r < 0)
        return r;
    return done(&in, "KSR:Firmwarefiles");
}

static int parse_files(struct cursor *c, const char *name, struct upd_ksr_file **ret_files,
                       size_t *ret_n)
{
    struct upd_ksr_file *files = NULL;
    size_t n = 0;
    int r;

    while (at(c, name)) {
        xmlNodePtr node = NULL;

        if (n == UPD_KSR_FILES_MAX)
            return bad(c, "more than %d KSR:%s", UPD_KSR_FILES_MAX, name);
        if (n == 0) {
            files = calloc(UPD_KSR_FILES_MAX, sizeof(*files));
            if (!files)
                return -ENOMEM;
            *ret_files = files;
        }
        (void)take(c, name, &node);
        *ret_n = ++n;
        r = parse_file(c, node, &files[n - 1]);
        if (r < 0)
            return r;
    }
    return 0;
}

static int parse_firmware(struct cursor *c, xmlNodePtr n, struct upd_ksr_update *u)
{
    struct cursor in;
    char prio[16];
    int r;

    r = enter(c, n, &in);
    if (r < 0)
        return r;
    r = take_field(&in, "FWVersion", K_VERSION, 0, u->fw_version, sizeof(u->fw_version));
    if (r < 0)
        return r;
    r = take_field(&in, "FWPriority", K_TEXT, 8, prio, sizeof(prio));
    if (r < 0)
        return r;
    if (strcmp(prio, "Kritisch") == 0)
        u->critical = true;
    else if (strcmp(prio, "Normal") != 0)
        return bad(c, "KSR:FWPriority must be Normal or Kritisch");
    r = parse_files(&in, "Firmwarefiles", &u->files, &u->n_files);
    if (r < 0)
        return r;
    r = parse_files(&in, "Documentationfiles", &u->docs, &u->n_docs);
    if (r < 0)
        return r;
    r = take_notes(&in, "FirmwareReleaseNotes", UPD_KSR_NOTES_MAX, &u->release_notes);
    if (r < 0)
        return r;
    return done(&in, "KSR:Firmware");
}

static int parse_update(struct cursor *c, xmlNodePtr n, struct upd_ksr_update *u)
{
    struct cursor in, dep;
    xmlNodePtr node = NULL;
    int r;

    r = enter(c, n, &in);
    if (r < 0)
        return r;
    r = take_field(&in, "UpdateID", K_ID, UPD_KSR_ID_MAX, u->update_id, sizeof(u->update_id));
    if (r == 0)
        r = take_field(&in, "ProductVendorID", K_ID, 5, u->product_vendor_id,
                       sizeof(u->product_vendor_id));
    if (r == 0)
        r = take_field(&in, "ProductCode", K_ID, 8, u->product_code, sizeof(u->product_code));
    if (r == 0)
        r = take_field(&in, "HWVersion", K_VERSION, 0, u->hw_version, sizeof(u->hw_version));
    if (r == 0)
        r = take_field(&in, "ProductName", K_TEXT, UPD_KSR_NAME_MAX, u->product_name,
                       sizeof(u->product_name));
    if (r == 0)
        r = take_field(&in, "CreationDate", K_DATE, 0, u->creation_date, sizeof(u->creation_date));
    if (r == 0)
        r = take(&in, "DeploymentInformation", &node);
    if (r < 0)
        return r;
    r = enter(&in, node, &dep);
    if (r < 0)
        return r;
    if (at(&dep, "StartDate")) {
        r = take_field(&dep, "StartDate", K_DATE, 0, u->start_date, sizeof(u->start_date));
        if (r < 0)
            return r;
    }
    if (at(&dep, "Deadline")) {
        r = take_field(&dep, "Deadline", K_DATE, 0, u->deadline, sizeof(u->deadline));
        if (r < 0)
            return r;
    }
    r = done(&dep, "KSR:DeploymentInformation");
    if (r == 0)
        r = take(&in, "Firmware", &node);
    if (r == 0)
        r = parse_firmware(&in, node, u);
    /* The signature's content is lax (C_5012): present, not interpreted; the bundle's own CMS
     * signature is what the updater trusts (docs/update-bundle.md). */
    if (r == 0)
        r = take(&in, "UpdateInformationSignature", &node);
    if (r == 0)
        r = done(&in, "KSR:UpdateInformation");
    return r;
}

static int parse_fault(xmlNodePtr body, char *err, size_t err_size)
{
    const char *s = soap_child_text(body, NULL, "faultstring");
    char shown[129];
    size_t i = 0;

    for (; s && s[i] && i < sizeof(shown) - 1; i++)
        shown[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    shown[i] = '\0';
    if (err && err_size)
        (void)snprintf(err, err_size, "the KSR answered with a SOAP fault: '%s'",
                       i ? shown : "(no faultstring)");
    return -EPROTO;
}

int upd_ksr_response_parse(const void *xml, size_t len, struct upd_ksr_list **ret_list, char *err,
                           size_t err_size)
{
    struct upd_ksr_list *l = NULL;
    xmlDocPtr doc = NULL;
    xmlNodePtr body = NULL;
    struct cursor c = {NULL, err, err_size};
    int r;

    if (len > UPD_KSR_RESPONSE_MAX) {
        r = bad(&c, "the answer has %zu bytes, at most %d are read", len, UPD_KSR_RESPONSE_MAX);
        goto out;
    }
    r = soap_document_parse(xml, len, &doc, &body, err, err_size);
    if (r < 0) {
        r = r == -ENOMEM ? -ENOMEM : -EBADMSG;
        goto out;
    }
    if (body->ns && body->ns->href && strcmp((const char *)body->ns->href, SOAP_NS_ENV) == 0 &&
        strcmp((const char *)body->name, "Fault") == 0) {
        r = parse_fault(body, err, err_size);
        goto out;
    }
    c.next = body;
    if (!at(&c, "listUpdatesResponse")) {
        r = bad(&c, "the answer is '%.64s', not KSR:listUpdatesResponse", (const char *)body->name);
        goto out;
    }
    l = calloc(1, sizeof(*l));
    if (!l) {
        r = -ENOMEM;
        goto out;
    }
    r = enter(&c, body, &c);
    if (r < 0)
        goto out;
    if (at(&c, "FirmwareGroupReleaseNotes")) {
        r = take_notes(&c, "FirmwareGroupReleaseNotes", UPD_KSR_NOTES_MAX, &l->group_release_notes);
        if (r < 0)
            goto out;
    }
    while (at(&c, "UpdateInformation")) {
        xmlNodePtr node = NULL;

        if (l->n_updates == UPD_KSR_UPDATES_MAX) {
            r = bad(&c, "more than %d KSR:UpdateInformation", UPD_KSR_UPDATES_MAX);
            goto out;
        }
        if (!l->updates) {
            l->updates = calloc(UPD_KSR_UPDATES_MAX, sizeof(*l->updates));
            if (!l->updates) {
                r = -ENOMEM;
                goto out;
            }
        }
        (void)take(&c, "UpdateInformation", &node);
        r = parse_update(&c, node, &l->updates[l->n_updates++]);
        if (r < 0)
            goto out;
    }
    r = done(&c, "KSR:listUpdatesResponse");
    if (r < 0)
        goto out;
    *ret_list = l;
    l = NULL;
out:
    l = upd_ksr_list_free(l);
    if (doc)
        xmlFreeDoc(doc);
    return r;
}

static void files_free(struct upd_ksr_file *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].name);
        free(f[i].notes);
    }
    free(f);
}

struct upd_ksr_list *upd_ksr_list_free(struct upd_ksr_list *l)
{
    if (!l)
        return NULL;
    for (size_t i = 0; i < l->n_updates; i++) {
        struct upd_ksr_update *u = &l->updates[i];

        free(u->release_notes);
        files_free(u->files, u->n_files);
        files_free(u->docs, u->n_docs);
    }
    free(l->updates);
    free(l->group_release_notes);
    free(l);
    return NULL;
}

/* ---- request ---------------------------------------------------------------------------- */

int upd_ksr_request_parse(const void *xml, size_t len, struct upd_ksr_identity *ret_id, char *err,
                          size_t err_size)
{
    struct upd_ksr_identity id = {0};
    xmlDocPtr doc = NULL;
    xmlNodePtr body = NULL;
    struct cursor c = {NULL, err, err_size};
    int r;

    if (len > UPD_KSR_RESPONSE_MAX)
        return bad(&c, "the request has %zu bytes, at most %d are read", len, UPD_KSR_RESPONSE_MAX);
    r = soap_document_parse(xml, len, &doc, &body, err, err_size);
    if (r < 0)
        return r == -ENOMEM ? -ENOMEM : -EBADMSG;
    c.next = body;
    if (!at(&c, "listUpdatesRequest")) {
        r = bad(&c, "the request is '%.64s', not KSR:listUpdatesRequest", (const char *)body->name);
        goto out;
    }
    r = enter(&c, body, &c);
    if (r == 0)
        r = take_field(&c, "ProductVendorID", K_ID, 5, id.product_vendor_id,
                       sizeof(id.product_vendor_id));
    if (r == 0)
        r = take_field(&c, "ProductCode", K_ID, 8, id.product_code, sizeof(id.product_code));
    if (r == 0)
        r = take_field(&c, "HWVersion", K_VERSION, 0, id.hw_version, sizeof(id.hw_version));
    if (r == 0)
        r = take_field(&c, "FWVersion", K_VERSION, 0, id.fw_version, sizeof(id.fw_version));
    if (r == 0)
        r = done(&c, "KSR:listUpdatesRequest");
    if (r == 0)
        *ret_id = id;
out:
    xmlFreeDoc(doc);
    return r;
}

/* ---- writing ---------------------------------------------------------------------------- */

static int writer_new(xmlBufferPtr *ret_buf, xmlTextWriterPtr *ret_w)
{
    xmlBufferPtr buf = xmlBufferCreate();
    xmlTextWriterPtr w = buf ? xmlNewTextWriterMemory(buf, 0) : NULL;

    if (!w) {
        if (buf)
            xmlBufferFree(buf);
        return -ENOMEM;
    }
    if (xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) < 0 ||
        xmlTextWriterStartElementNS(w, BAD_CAST "soap", BAD_CAST "Envelope", BAD_CAST SOAP_NS_ENV) <
            0 ||
        xmlTextWriterStartElementNS(w, BAD_CAST "soap", BAD_CAST "Body", NULL) < 0) {
        xmlFreeTextWriter(w);
        xmlBufferFree(buf);
        return -ENOMEM;
    }
    *ret_buf = buf;
    *ret_w = w;
    return 0;
}

/* Ends the document and hands its bytes out as a new string. */
static int writer_finish(xmlBufferPtr buf, xmlTextWriterPtr w, char **ret_xml, size_t *ret_len)
{
    char *copy = NULL;
    int r = 0;

    if (xmlTextWriterEndDocument(w) < 0 || xmlTextWriterFlush(w) < 0)
        r = -ENOMEM;
    xmlFreeTextWriter(w);
    if (r == 0) {
        copy = malloc((size_t)xmlBufferLength(buf) + 1);
        if (!copy)
            r = -ENOMEM;
    }
    if (r == 0) {
        memcpy(copy, xmlBufferContent(buf), (size_t)xmlBufferLength(buf));
        copy[xmlBufferLength(buf)] = '\0';
        *ret_xml = copy;
        *ret_len = (size_t)xmlBufferLength(buf);
    }
    xmlBufferFree(buf);
    return r;
}

static int el(xmlTextWriterPtr w, const char *name, const char *text)
{
    return xmlTextWriterWriteElementNS(w, BAD_CAST "KSR", BAD_CAST name, NULL, BAD_CAST text);
}

int upd_ksr_request_format(const struct upd_ksr_identity *id, char **ret_xml, size_t *ret_len)
{
    xmlBufferPtr buf = NULL;
    xmlTextWriterPtr w = NULL;
    int r;

    r = writer_new(&buf, &w);
    if (r < 0)
        return r;
    if (xmlTextWriterStartElementNS(w, BAD_CAST "KSR", BAD_CAST "listUpdatesRequest", BAD_CAST NS) <
            0 ||
        el(w, "ProductVendorID", id->product_vendor_id) < 0 ||
        el(w, "ProductCode", id->product_code) < 0 || el(w, "HWVersion", id->hw_version) < 0 ||
        el(w, "FWVersion", id->fw_version) < 0) {
        xmlFreeTextWriter(w);
        xmlBufferFree(buf);
        return -ENOMEM;
    }
    return writer_finish(buf, w, ret_xml, ret_len);
}

static int write_files(xmlTextWriterPtr w, const char *name, const struct upd_ksr_file *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char size[24];

        (void)snprintf(size, sizeof(size), "%llu", (unsigned long long)f[i].size);
        if (xmlTextWriterStartElementNS(w, BAD_CAST "KSR", BAD_CAST name, NULL) < 0 ||
            el(w, "Filename", f[i].name) < 0 || el(w, "FileSize", size) < 0 ||
            el(w, "Notes", f[i].notes ? f[i].notes : "") < 0 || xmlTextWriterEndElement(w) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int write_update(xmlTextWriterPtr w, const struct upd_ksr_update *u)
{
    if (xmlTextWriterStartElementNS(w, BAD_CAST "KSR", BAD_CAST "UpdateInformation", NULL) < 0 ||
        el(w, "UpdateID", u->update_id) < 0 || el(w, "ProductVendorID", u->product_vendor_id) < 0 ||
        el(w, "ProductCode", u->product_code) < 0 || el(w, "HWVersion", u->hw_version) < 0 ||
        el(w, "ProductName", u->product_name) < 0 || el(w, "CreationDate", u->creation_date) < 0 ||
        xmlTextWriterStartElementNS(w, BAD_CAST "KSR", BAD_CAST "DeploymentInformation", NULL) <
            0 ||
        (u->start_date[0] && el(w, "StartDate", u->start_date) < 0) ||
        (u->deadline[0] && el(w, "Deadline", u->deadline) < 0) || xmlTextWriterEndElement(w) < 0 ||
        xmlTextWriterStartElementNS(w, BAD_CAST "KSR", BAD_CAST "Firmware", NULL) < 0 ||
        el(w, "FWVersion", u->fw_version) < 0 ||
        el(w, "FWPriority", u->critical ? "Kritisch" : "Normal") < 0 ||
        write_files(w, "Firmwarefiles", u->files, u->n_files) < 0 ||
        write_files(w, "Documentationfiles", u->docs, u->n_docs) < 0 ||
        el(w, "FirmwareReleaseNotes", u->release_notes ? u->release_notes : "") < 0 ||
        xmlTextWriterEndElement(w) < 0 || el(w, "UpdateInformationSignature", "") < 0 ||
        xmlTextWriterEndElement(w) < 0)
        return -ENOMEM;
    return 0;
}

int upd_ksr_response_format(const struct upd_ksr_list *l, char **ret_xml, size_t *ret_len)
{
    xmlBufferPtr buf = NULL;
    xmlTextWriterPtr w = NULL;
    int r;

    r = writer_new(&buf, &w);
    if (r < 0)
        return r;
    r = xmlTextWriterStartElementNS(w, BAD_CAST "KSR", BAD_CAST "listUpdatesResponse",
                                    BAD_CAST NS) < 0
            ? -ENOMEM
            : 0;
    if (r == 0 && l->group_release_notes &&
        el(w, "FirmwareGroupReleaseNotes", l->group_release_notes) < 0)
        r = -ENOMEM;
    for (size_t i = 0; r == 0 && i < l->n_updates; i++)
        r = write_update(w, &l->updates[i]);
    if (r < 0) {
        xmlFreeTextWriter(w);
        xmlBufferFree(buf);
        return r;
    }
    return writer_finish(buf, w, ret_xml, ret_len);
}
