/* sds: the service directory connector.sds (TIP1-A_4528, TIP1-A_4529-02), written from the
 * services registered during bootup. Which host and ports it advertises, and whether the
 * request may see it at all, is the server's business (server.c); this file only writes the
 * document for the facts it is given.
 *
 *   CONN:ConnectorServices                          ServiceDirectory.xsd v3.1
 *     PI:ProductInformation                         ProductInformation.xsd v1.1
 *       InformationDate, ProductTypeInformation, ProductIdentification, ProductMiscellaneous
 *     CONN:TLSMandatory, CONN:ClientAutMandatory
 *     SI:ServiceInformation                         ServiceInformation.xsd v2.0
 *       SI:Service @Name { SI:Abstract, SI:Versions { SI:Version @TargetNamespace @Version
 *         { SI:Abstract, SI:Endpoint? (HTTP), SI:EndpointTLS (HTTPS), SI:WSDL? } } }
 *
 * Invariants:
 *  1. Services with the same name become one SI:Service with one SI:Version each, in
 *     registration order (a connector may offer several versions of a service).
 *  2. SI:Endpoint appears only when there is an HTTP listener; SI:EndpointTLS always (the
 *     schema requires it).
 *  3. Versions written into ProductInformation match its pattern N.N.N; a value that does not
 *     is replaced by "0.0.0" rather than producing a document that fails validation. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "soap/soap_internal.h"

#define PRODUCT_TYPE "Konnektor"
/* ProductInformation.xsd: ProductVendorID at most 5, ProductCode at most 8 of [A-Za-z0-9_]. */
#define PRODUCT_VENDOR_ID "KONND"
#define PRODUCT_CODE "konnektd"
#define PRODUCT_HW_VERSION "1.0.0"
#define PRODUCT_VENDOR_NAME "konnektord project"
#define PRODUCT_NAME "konnektord"
/* ServiceInformation.xsd: Location is an anyURI of at most 2048 characters. */
#define URL_MAX 2048
/* The HTTPS port advertised when no HTTPS listener was opened (the schema needs one). */
#define HTTPS_DEFAULT_PORT 443

bool soap__version_is_valid(const char *s)
{
    for (int part = 0; part < 3; part++) {
        size_t digits = strspn(s, "0123456789");

        if (digits < 1 || digits > 3)
            return false;
        s += digits;
        if (part < 2 && *s++ != '.')
            return false;
    }
    return *s == '\0';
}

static const char *version_or_zero(const char *v)
{
    return v && soap__version_is_valid(v) ? v : "0.0.0";
}

static int pi_text(xmlTextWriterPtr w, const char *name, const char *text)
{
    return xmlTextWriterWriteElementNS(w, BAD_CAST "PI", BAD_CAST name, NULL, BAD_CAST text);
}

static int si_start(xmlTextWriterPtr w, const char *name)
{
    return xmlTextWriterStartElementNS(w, BAD_CAST "SI", BAD_CAST name, NULL);
}

static int write_product(xmlTextWriterPtr w, const struct soap__sds_info *in)
{
    char date[32];

    (void)soap_datetime(in->now_ms, date, sizeof(date));
    if (xmlTextWriterStartElementNS(w, BAD_CAST "PI", BAD_CAST "ProductInformation",
                                    BAD_CAST SOAP_NS_PI) < 0 ||
        pi_text(w, "InformationDate", date) < 0 ||
        xmlTextWriterStartElementNS(w, BAD_CAST "PI", BAD_CAST "ProductTypeInformation", NULL) <
            0 ||
        pi_text(w, "ProductType", PRODUCT_TYPE) < 0 ||
        pi_text(w, "ProductTypeVersion", version_or_zero(in->product_type_version)) < 0 ||
        xmlTextWriterEndElement(w) < 0 ||
        xmlTextWriterStartElementNS(w, BAD_CAST "PI", BAD_CAST "ProductIdentification", NULL) < 0 ||
        pi_text(w, "ProductVendorID", PRODUCT_VENDOR_ID) < 0 ||
        pi_text(w, "ProductCode", PRODUCT_CODE) < 0 ||
        xmlTextWriterStartElementNS(w, BAD_CAST "PI", BAD_CAST "ProductVersion", NULL) < 0 ||
        xmlTextWriterStartElementNS(w, BAD_CAST "PI", BAD_CAST "Local", NULL) < 0 ||
        pi_text(w, "HWVersion", PRODUCT_HW_VERSION) < 0 ||
        pi_text(w, "FWVersion", version_or_zero(in->firmware_version)) < 0 ||
        xmlTextWriterEndElement(w) < 0 || /* Local */
        xmlTextWriterEndElement(w) < 0 || /* ProductVersion */
        xmlTextWriterEndElement(w) < 0 || /* ProductIdentification */
        xmlTextWriterStartElementNS(w, BAD_CAST "PI", BAD_CAST "ProductMiscellaneous", NULL) < 0 ||
        pi_text(w, "ProductVendorName", PRODUCT_VENDOR_NAME) < 0 ||
        pi_text(w, "ProductName", PRODUCT_NAME) < 0 ||
        xmlTextWriterEndElement(w) < 0 || /* ProductMiscellaneous */
        xmlTextWriterEndElement(w) < 0)   /* ProductInformation */
        return -ENOMEM;
    return 0;
}

static int write_location(xmlTextWriterPtr w, const char *element, const char *scheme,
                          const char *host, unsigned port, const char *path)
{
    char url[URL_MAX + 1];
    int n = snprintf(url, sizeof(url), "%s://%s:%u%s", scheme, host, port, path);

    if (n < 0 || (size_t)n >= sizeof(url))
        return -ENAMETOOLONG;
    if (si_start(w, element) < 0 ||
        xmlTextWriterWriteAttribute(w, BAD_CAST "Location", BAD_CAST url) < 0 ||
        xmlTextWriterEndElement(w) < 0)
        return -ENOMEM;
    return 0;
}

static int write_version(xmlTextWriterPtr w, const struct soap__sds_info *in,
                         const struct soap_service *svc)
{
    unsigned https_port = in->https_port ? in->https_port : HTTPS_DEFAULT_PORT;
    int r;

    if (si_start(w, "Version") < 0 ||
        xmlTextWriterWriteAttribute(w, BAD_CAST "TargetNamespace", BAD_CAST svc->target_namespace) <
            0 ||
        xmlTextWriterWriteAttribute(w, BAD_CAST "Version", BAD_CAST svc->version) < 0 ||
        xmlTextWriterWriteElementNS(w, BAD_CAST "SI", BAD_CAST "Abstract", NULL,
                                    BAD_CAST svc->abstract) < 0)
        return -ENOMEM;
    r = 0;
    if (in->http_port)
        r = write_location(w, "Endpoint", "http", in->host, in->http_port, svc->path);
    if (r == 0)
        r = write_location(w, "EndpointTLS", "https", in->host, https_port, svc->path);
    if (r == 0 && svc->wsdl_path)
        r = in->https_port || !in->http_port
                ? write_location(w, "WSDL", "https", in->host, https_port, svc->wsdl_path)
                : write_location(w, "WSDL", "http", in->host, in->http_port, svc->wsdl_path);
    if (r < 0)
        return r;
    return xmlTextWriterEndElement(w) < 0 ? -ENOMEM : 0;
}

static bool name_seen_before(const struct soap__sds_info *in, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (strcmp(in->services[j].name, in->services[i].name) == 0)
            return true;
    return false;
}

static int write_services(xmlTextWriterPtr w, const struct soap__sds_info *in)
{
    int r;

    if (xmlTextWriterStartElementNS(w, BAD_CAST "SI", BAD_CAST "ServiceInformation",
                                    BAD_CAST SOAP_NS_SI) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < in->n_services; i++) {
        const struct soap_service *svc = &in->services[i];

        /* Invariant 1: the first service of a name carries all of that name's versions. */
        if (name_seen_before(in, i))
            continue;
        if (si_start(w, "Service") < 0 ||
            xmlTextWriterWriteAttribute(w, BAD_CAST "Name", BAD_CAST svc->name) < 0 ||
            xmlTextWriterWriteElementNS(w, BAD_CAST "SI", BAD_CAST "Abstract", NULL,
                                        BAD_CAST svc->abstract) < 0 ||
            si_start(w, "Versions") < 0)
            return -ENOMEM;
        for (size_t j = i; j < in->n_services; j++) {
            if (strcmp(in->services[j].name, svc->name) != 0)
                continue;
            r = write_version(w, in, &in->services[j]);
            if (r < 0)
                return r;
        }
        if (xmlTextWriterEndElement(w) < 0 || xmlTextWriterEndElement(w) < 0)
            return -ENOMEM;
    }
    return xmlTextWriterEndElement(w) < 0 ? -ENOMEM : 0;
}

int soap__sds_format(const struct soap__sds_info *in, xmlBufferPtr *ret_buf)
{
    xmlBufferPtr buf = xmlBufferCreate();
    xmlTextWriterPtr w = buf ? xmlNewTextWriterMemory(buf, 0) : NULL;
    int r = -ENOMEM;

    if (!w)
        goto out;
    if (xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) < 0 ||
        xmlTextWriterStartElementNS(w, BAD_CAST "CONN", BAD_CAST "ConnectorServices",
                                    BAD_CAST SOAP_NS_SDS) < 0)
        goto out;
    r = write_product(w, in);
    if (r < 0)
        goto out;
    if (xmlTextWriterWriteElementNS(w, BAD_CAST "CONN", BAD_CAST "TLSMandatory", NULL,
                                    BAD_CAST(in->tls_mandatory ? "true" : "false")) < 0 ||
        xmlTextWriterWriteElementNS(w, BAD_CAST "CONN", BAD_CAST "ClientAutMandatory", NULL,
                                    BAD_CAST(in->caut_mandatory ? "true" : "false")) < 0) {
        r = -ENOMEM;
        goto out;
    }
    r = write_services(w, in);
    if (r < 0)
        goto out;
    if (xmlTextWriterEndDocument(w) < 0) {
        r = -ENOMEM;
        goto out;
    }
    xmlFreeTextWriter(w); /* flushes into buf */
    w = NULL;
    *ret_buf = buf;
    buf = NULL;
out:
    if (w)
        xmlFreeTextWriter(w);
    if (buf)
        xmlBufferFree(buf);
    return r;
}
