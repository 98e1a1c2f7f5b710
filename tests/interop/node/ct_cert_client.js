#!/usr/bin/env node
// Interop client: the npm `soap` package (node-soap) makes a list of calls on one gematik
// service of a connector (the CardTerminalService or the CertificateService), through the
// gematik WSDL named, and prints one JSON line per call on stdout, as event_client.js does:
//   {"operation":"ReadCardCertificate","ok":true,"request":"<soap:Envelope ...>","response":"<...>"}
// The calling test validates every request and response against the XSDs.
//
// usage: node ct_cert_client.js ENDPOINT_URL --wsdl FILE --calls JSON
//                               [--ca FILE | --insecure] [--pfx FILE [--passphrase PW]]
//   --wsdl FILE   the WSDL's file name in api-telematik's conn/ folder
//   --calls JSON  a JSON array of [operation, arguments] pairs, made in order; arguments
//                 are node-soap's object form of the request (without the context, which
//                 is the demo context m1/cs1/ws1 and is added to every call)
// Environment: KONN_API_TELEMATIK names the api-telematik checkout (default
// ../shared/api-telematik beside the repository).
// Exit status: 0 when every call printed a response, 1 on a transport or WSDL error, 2 on
// bad usage.
'use strict';

const fs = require('fs');
const https = require('https');
const path = require('path');
const soap = require('soap');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const API_TELEMATIK = process.env.KONN_API_TELEMATIK ||
    path.join(path.dirname(ROOT), 'shared', 'api-telematik');
const CONTEXT = { MandantId: 'm1', ClientSystemId: 'cs1', WorkplaceId: 'ws1' };

function parseArgs(argv) {
    const opts = { url: null, wsdl: null, calls: null, ca: null, insecure: false, pfx: null,
        passphrase: null };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--wsdl') opts.wsdl = argv[++i];
        else if (a === '--calls') opts.calls = JSON.parse(argv[++i]);
        else if (a === '--ca') opts.ca = argv[++i];
        else if (a === '--insecure') opts.insecure = true;
        else if (a === '--pfx') opts.pfx = argv[++i];
        else if (a === '--passphrase') opts.passphrase = argv[++i];
        else if (!a.startsWith('--') && !opts.url) opts.url = a;
        else throw new Error(`unknown argument '${a}'`);
    }
    if (!opts.url || !opts.wsdl || !Array.isArray(opts.calls)) {
        throw new Error('needs ENDPOINT_URL, --wsdl and --calls');
    }
    return opts;
}

function requestOptions(opts) {
    if (!opts.url.startsWith('https:')) return { proxy: false };
    const read = (file) => (file ? fs.readFileSync(file) : undefined);
    const agent = new https.Agent({
        rejectUnauthorized: !opts.insecure,
        ca: read(opts.ca),
        pfx: read(opts.pfx),
        passphrase: opts.passphrase || undefined,
    });
    return { proxy: false, httpsAgent: agent };
}

async function main() {
    let opts;
    try {
        opts = parseArgs(process.argv.slice(2));
    } catch (err) {
        process.stderr.write(`ct_cert_client: ${err.message}\n`);
        process.exit(2);
    }
    const client = await soap.createClientAsync(path.join(API_TELEMATIK, 'conn', opts.wsdl),
        { endpoint: opts.url });
    const options = requestOptions(opts);
    for (const [operation, args] of opts.calls) {
        client.lastRequest = undefined;
        client.lastResponse = undefined;
        const line = { operation, ok: true };
        try {
            // The context goes where each request wants it: first for RequestCard,
            // EjectCard and VerifyCertificate, after the CardHandle for the others.
            const ordered = args.CardHandle !== undefined && operation !== 'EjectCard'
                ? { CardHandle: args.CardHandle, Context: CONTEXT, ...args }
                : { Context: CONTEXT, ...args };
            await client[operation + 'Async'](ordered, options);
        } catch (err) {
            if (!client.lastResponse) throw err;
            line.ok = false;
            line.error = String(err.message || err);
        }
        line.request = client.lastRequest;
        line.response = client.lastResponse;
        process.stdout.write(JSON.stringify(line) + '\n');
    }
}

main().catch((err) => {
    process.stderr.write(`ct_cert_client: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
});
