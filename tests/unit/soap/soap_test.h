/* Helpers shared by the soap unit tests: finding the gematik schemas and validating documents
 * against them. Tests may use libxml2's reader and schema calls freely (STYLE.md rule 18 bans
 * them only in daemon code outside envelope.c). */
#ifndef KONN_SOAP_TEST_H
#define KONN_SOAP_TEST_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/xmlschemas.h>

#include "base/base.h"
#include "../test_tmp.h"

static inline void rm_rf(const char *dir)
{
    test_tmp_remove(dir);
}

/* The api-telematik checkout: $KONN_API_TELEMATIK, else the path CMake found. */
static inline const char *api_telematik_dir(void)
{
    const char *env = getenv("KONN_API_TELEMATIK");

    return env && env[0] ? env : KONN_API_TELEMATIK;
}

/* path relative to the api-telematik checkout into buf; false (with a message) if absent. */
static inline bool api_telematik_file(const char *rel, char *buf, size_t size)
{
    (void)snprintf(buf, size, "%s/%s", api_telematik_dir(), rel);
    if (fs_exists(buf))
        return true;
    printf("SKIP: %s not found; set KONN_API_TELEMATIK to an api-telematik checkout\n", buf);
    return false;
}

static inline void print_xml_error(void *ctx, xmlErrorPtr e)
{
    printf("schema: line %d: %s", e->line, e->message ? e->message : "?\n");
}

/* Compiles a schema from a file, or from text (path NULL) whose imports name files. */
static inline xmlSchemaPtr schema_load(const char *path, const char *text)
{
    xmlSchemaParserCtxtPtr pctx =
        path ? xmlSchemaNewParserCtxt(path) : xmlSchemaNewMemParserCtxt(text, (int)strlen(text));
    xmlSchemaPtr schema;

    if (!pctx)
        return NULL;
    xmlSchemaSetParserStructuredErrors(pctx, print_xml_error, NULL);
    schema = xmlSchemaParse(pctx);
    xmlSchemaFreeParserCtxt(pctx);
    return schema;
}

/* 0 when doc is valid; the number of errors otherwise (printed). */
static inline int schema_validate_doc(xmlSchemaPtr schema, xmlDocPtr doc)
{
    xmlSchemaValidCtxtPtr vctx = xmlSchemaNewValidCtxt(schema);
    int r;

    if (!vctx)
        return -1;
    xmlSchemaSetValidStructuredErrors(vctx, print_xml_error, NULL);
    r = xmlSchemaValidateDoc(vctx, doc);
    xmlSchemaFreeValidCtxt(vctx);
    return r;
}

static inline xmlDocPtr xml_read(const void *data, size_t len)
{
    return xmlReadMemory(data, (int)len, "test.xml", NULL, XML_PARSE_NONET);
}

#endif
