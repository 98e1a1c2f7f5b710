/* fault: the SOAP 1.1 fault writer (TIP1-A_5058-01). Every error the LAN interface answers
 * with leaves through soap__fault_format():
 *
 *   soap:Envelope / soap:Body / soap:Fault
 *     faultcode    soap:Client (the request is wrong) or soap:Server
 *     faultstring  the table's text for the code
 *     detail / GERROR:Error  (TelematikError.xsd v2.0)
 *       MessageID  a random UUID
 *       Timestamp  connector time, xs:dateTime
 *       Trace      EventID (random UUID), Instance, LogReference (= EventID, which the caller
 *                  logs), CompType "Konnektor", Code, Severity, ErrorType, ErrorText, Detail?
 *
 * It does not send anything and knows nothing about HTTP; the server answers with status 500.
 *
 * Invariants:
 *  1. The trace has exactly one entry, and it is a gematik code from the table (A_14159): an
 *     unknown code becomes 4001 and the unknown number goes into Detail.
 *  2. Every string written is valid UTF-8 without control characters (soap__text_sanitize), so
 *     the output is well-formed whatever a caller's detail contained.
 *  3. Element order and names follow TelematikError.xsd exactly; test_fault validates the
 *     output against it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "soap/soap_internal.h"

/* TelematikError: the component type of everything this connector reports. */
#define COMP_TYPE "Konnektor"

int soap__uuid(char out[SOAP__UUID_SIZE])
{
    unsigned char b[16];
    char hex[33];
    int r = rand_bytes(b, sizeof(b));

    if (r < 0)
        return r;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    hex_encode(b, sizeof(b), hex);
    (void)snprintf(out, SOAP__UUID_SIZE, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
                   hex + 16, hex + 20);
    return 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one (overlong forms,
 * surrogates and values above U+10FFFF included). */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xe0 && s[0] <= 0xef) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))
            return 0;
        return 3;
    }
    if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
            return 0;
        return 4;
    }
    return 0;
}

void soap__text_sanitize(const char *src, char *dst, size_t size)
{
    const unsigned char *s = (const unsigned char *)(src ? src : "");
    size_t n = 0;

    if (size == 0)
        return;
    while (*s) {
        size_t len = utf8_len(s);

        if (len == 0 || (len == 1 && s[0] < 0x20 && s[0] != '\t' && s[0] != '\n') || s[0] == 0x7f) {
            if (n + 1 >= size)
                break;
            dst[n++] = '?';
            s++;
            continue;
        }
        if (n + len >= size)
            break;
        memcpy(dst + n, s, len);
        n += len;
        s += len;
    }
    dst[n] = '\0';
}

char *soap_datetime(int64_t wall_ms, char *buf, size_t size)
{
    time_t secs = (time_t)(wall_ms >= 0 ? wall_ms / 1000 : (wall_ms - 999) / 1000);
    struct tm tm;

    if (!gmtime_r(&secs, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        if (size > 0)
            buf[0] = '\0';
    }
    return buf;
}

/* Writes <prefix:name>text</prefix:name> in the GERROR namespace (declared on Error). */
static int gerror_text(xmlTextWriterPtr w, const char *name, const char *text)
{
    return xmlTextWriterWriteElementNS(w, BAD_CAST "GERROR", BAD_CAST name, NULL, BAD_CAST text);
}

static int write_trace(xmlTextWriterPtr w, const struct soap_error_def *def, const char *event_id,
                       const char *instance, const char *detail)
{
    char code[16];

    (void)snprintf(code, sizeof(code), "%d", def->code);
    if (xmlTextWriterStartElementNS(w, BAD_CAST "GERROR", BAD_CAST "Trace", NULL) < 0 ||
        gerror_text(w, "EventID", event_id) < 0 || gerror_text(w, "Instance", instance) < 0 ||
        gerror_text(w, "LogReference", event_id) < 0 || gerror_text(w, "CompType", COMP_TYPE) < 0 ||
        gerror_text(w, "Code", code) < 0 || gerror_text(w, "Severity", def->severity) < 0 ||
        gerror_text(w, "ErrorType", def->error_type) < 0 ||
        gerror_text(w, "ErrorText", def->text) < 0)
        return -ENOMEM;
    if (detail && detail[0] && gerror_text(w, "Detail", detail) < 0)
        return -ENOMEM;
    return xmlTextWriterEndElement(w) < 0 ? -ENOMEM : 0;
}

static int write_fault(xmlTextWriterPtr w, const struct soap__fault *f,
                       const struct soap_error_def *def, const char *event_id, const char *detail)
{
    char message_id[SOAP__UUID_SIZE], stamp[32], instance[SETTING_VALUE_MAX];
    const char *faultcode = f->faultcode;

    if (!faultcode)
        faultcode = soap__error_is_client(def->code) ? "soap:Client" : "soap:Server";
    if (soap__uuid(message_id) < 0)
        (void)str_copy(message_id, sizeof(message_id), event_id);
    soap__text_sanitize(f->instance, instance, sizeof(instance));
    (void)soap_datetime(clock_now_ms(), stamp, sizeof(stamp));
    if (xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) < 0 ||
        xmlTextWriterStartElementNS(w, BAD_CAST "soap", BAD_CAST "Envelope", BAD_CAST SOAP_NS_ENV) <
            0 ||
        xmlTextWriterStartElementNS(w, BAD_CAST "soap", BAD_CAST "Body", NULL) < 0 ||
        xmlTextWriterStartElementNS(w, BAD_CAST "soap", BAD_CAST "Fault", NULL) < 0 ||
        /* SOAP 1.1 section 4.4: faultcode, faultstring and detail are unqualified. */
        xmlTextWriterWriteElement(w, BAD_CAST "faultcode", BAD_CAST faultcode) < 0 ||
        xmlTextWriterWriteElement(w, BAD_CAST "faultstring", BAD_CAST def->text) < 0 ||
        xmlTextWriterStartElement(w, BAD_CAST "detail") < 0 ||
        xmlTextWriterStartElementNS(w, BAD_CAST "GERROR", BAD_CAST "Error",
                                    BAD_CAST SOAP_NS_GERROR) < 0 ||
        gerror_text(w, "MessageID", message_id) < 0 || gerror_text(w, "Timestamp", stamp) < 0)
        return -ENOMEM;
    if (write_trace(w, def, event_id, instance, detail) < 0)
        return -ENOMEM;
    return xmlTextWriterEndDocument(w) < 0 ? -ENOMEM : 0;
}

int soap__fault_format(const struct soap__fault *f, xmlBufferPtr *ret_buf, char *ret_event_id)
{
    const struct soap_error_def *def = soap_error_def(f->code);
    char event_id[SOAP__UUID_SIZE];
    char detail[SOAP__DETAIL_MAX];
    char raw[SOAP__DETAIL_MAX];
    xmlBufferPtr buf = NULL;
    xmlTextWriterPtr w = NULL;
    int r = -ENOMEM;

    if (!def) {
        /* Invariant 1: the last trace entry must be a specified code. */
        def = soap_error_def(4001);
        (void)snprintf(raw, sizeof(raw), "unlisted code %d%s%s", f->code,
                       f->detail && f->detail[0] ? ": " : "", f->detail ? f->detail : "");
        soap__text_sanitize(raw, detail, sizeof(detail));
    } else {
        soap__text_sanitize(f->detail, detail, sizeof(detail));
    }
    if (soap__uuid(event_id) < 0)
        (void)str_copy(event_id, sizeof(event_id), "00000000-0000-4000-8000-000000000000");
    buf = xmlBufferCreate();
    w = buf ? xmlNewTextWriterMemory(buf, 0) : NULL;
    if (!w)
        goto out;
    r = write_fault(w, f, def, event_id, detail);
    if (r < 0)
        goto out;
    xmlFreeTextWriter(w); /* flushes into buf */
    w = NULL;
    if (ret_event_id)
        memcpy(ret_event_id, event_id, SOAP__UUID_SIZE);
    *ret_buf = buf;
    buf = NULL;
out:
    if (w)
        xmlFreeTextWriter(w);
    if (buf)
        xmlBufferFree(buf);
    return r;
}
