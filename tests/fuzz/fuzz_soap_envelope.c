/* Fuzz target for soap's safe parser (STYLE.md rule 15): the input is a request body as a
 * client on the LAN could send it. It runs the envelope parser; on success every string the
 * dispatcher and handlers read (operation, context, child texts, attributes); on refusal the
 * fault that would answer it, which must be well-formed XML whatever the detail says.
 *
 * Built twice by tests/fuzz/CMakeLists.txt: with fuzz_main.c to replay the corpus under CTest,
 * and with clang's -fsanitize=fuzzer as a real fuzzer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "base/base.h"
#include "soap/soap_internal.h"

/* Larger inputs teach the fuzzer nothing new; the 25 MB cap has a unit test of its own. */
#define INPUT_MAX (1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink; /* keeps the reads in use() from being optimised away */

static void use_text(const char *s)
{
    if (s)
        sink += strlen(s);
}

/* Reads what a handler would read, so that a sanitizer sees any dangling pointer. */
static void use(const struct soap__request *req)
{
    const struct soap_context *c = &req->context;

    use_text(req->ns);
    use_text(req->name);
    use_text(c->mandant_id);
    use_text(c->client_system_id);
    use_text(c->workplace_id);
    use_text(c->user_id);
    if (strlen(c->mandant_id) > SOAP_CONTEXT_ID_MAX || strlen(c->user_id) > SOAP_CONTEXT_ID_MAX)
        abort();
    for (xmlNodePtr n = req->op->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        use_text(soap_child_text(req->op, n->ns ? (const char *)n->ns->href : NULL,
                                 (const char *)n->name));
        for (xmlAttrPtr a = n->properties; a; a = a->next)
            use_text(soap_attr(n, (const char *)a->name));
    }
}

/* The fault for a refusal must parse, or a client could be made to receive broken XML. */
static void check_fault(const struct soap__refusal *why)
{
    struct soap__fault f = {.code = why->code, .detail = why->detail, .instance = "konnektor"};
    xmlBufferPtr buf = NULL;
    xmlDocPtr doc;

    if (why->code != 4000 && why->code != 4001 && why->code != 4021 && why->code != 4280)
        abort();
    if (strnlen(why->detail, sizeof(why->detail)) == sizeof(why->detail))
        abort();
    if (soap__fault_format(&f, &buf, NULL) < 0)
        return;
    doc = xmlReadMemory((const char *)xmlBufferContent(buf), xmlBufferLength(buf), "fault.xml",
                        NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        abort();
    xmlFreeDoc(doc);
    xmlBufferFree(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct soap__request req = {0};
    struct soap__refusal why = {0};

    if (size > INPUT_MAX)
        return 0;
    if (soap__envelope_parse(data, size, &req, &why) == 0) {
        use(&req);
        soap__request_done(&req);
    } else {
        check_fault(&why);
    }
    return 0;
}
