#!/usr/bin/env node
// Interop client: the npm `soap` package (node-soap) calls all seven EventService v7.2
// operations of a connector through the gematik EventService.wsdl, with the demo context
// (m1/cs1/ws1), and prints one JSON line per call on stdout:
//   {"operation":"GetCards","ok":true,"request":"<soap:Envelope ...>","response":"<...>"}
// "response" is the raw response XML (client.lastResponse) and "request" what node-soap sent
// (client.lastRequest); a fault still prints its XML, with "ok":false, the HTTP status and
// the error message. The calling test validates every request and response against the XSDs.
//
// usage: node event_client.js ENDPOINT_URL [--ca FILE | --insecure]
//                              [--cert FILE --key FILE | --pfx FILE [--passphrase PW]]
//   ENDPOINT_URL  e.g. https://127.0.0.1:8444/ws/EventService
//   --ca FILE     trust these PEM certificates for HTTPS (the connector's LAN certificates,
//                 whose names include 127.0.0.1 and localhost, so the host name is checked)
//   --insecure    accept any server certificate (rejectUnauthorized: false)
//   --cert/--key  present this PEM client certificate (when ANCL_CAUT_MANDATORY is Enabled)
//   --pfx         present this PKCS#12 client identity instead, opened with --passphrase
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
const WSDL = path.join(API_TELEMATIK, 'conn', 'EventService.wsdl');
const CONTEXT = { MandantId: 'm1', ClientSystemId: 'cs1', WorkplaceId: 'ws1' };
// A CETP receiver that is never contacted: the subscription only has to be accepted.
const EVENT_TO = 'cetp://127.0.0.1:9';

function parseArgs(argv) {
    const opts = {
        url: null, ca: null, insecure: false, cert: null, key: null, pfx: null, passphrase: null,
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--ca') opts.ca = argv[++i];
        else if (a === '--insecure') opts.insecure = true;
        else if (a === '--cert') opts.cert = argv[++i];
        else if (a === '--key') opts.key = argv[++i];
        else if (a === '--pfx') opts.pfx = argv[++i];
        else if (a === '--passphrase') opts.passphrase = argv[++i];
        else if (!a.startsWith('--') && !opts.url) opts.url = a;
        else throw new Error(`unknown argument '${a}'`);
    }
    if (!opts.url) throw new Error('missing ENDPOINT_URL');
    if (Boolean(opts.cert) !== Boolean(opts.key)) throw new Error('--cert needs --key');
    if (opts.pfx && opts.cert) throw new Error('--pfx and --cert exclude each other');
    if (opts.ca && opts.insecure) throw new Error('--ca and --insecure exclude each other');
    return opts;
}

// Per-call axios options: node-soap passes them through to its HTTP client. Proxy variables
// of the environment must not send loopback calls elsewhere.
function requestOptions(opts) {
    if (!opts.url.startsWith('https:')) return { proxy: false };
    const read = (file) => (file ? fs.readFileSync(file) : undefined);
    const agent = new https.Agent({
        rejectUnauthorized: !opts.insecure,
        ca: read(opts.ca),
        cert: read(opts.cert),
        key: read(opts.key),
        pfx: read(opts.pfx),
        passphrase: opts.passphrase || undefined,
    });
    return { proxy: false, httpsAgent: agent };
}

function print(operation, ok, client, err) {
    const line = { operation, ok, request: client.lastRequest, response: client.lastResponse };
    if (!ok) {
        line.status = err.response ? err.response.status : null;
        line.error = String(err.message || err);
    }
    process.stdout.write(JSON.stringify(line) + '\n');
}

async function call(client, options, operation, args) {
    // Each call starts clean so a failed call cannot print the previous response.
    client.lastRequest = undefined;
    client.lastResponse = undefined;
    try {
        const [result] = await client[operation + 'Async'](args, options);
        print(operation, true, client, null);
        return result;
    } catch (err) {
        if (!client.lastResponse) throw err; /* transport error: no XML to print */
        print(operation, false, client, err);
        return null;
    }
}

async function main() {
    let opts;
    try {
        opts = parseArgs(process.argv.slice(2));
    } catch (err) {
        process.stderr.write(`event_client: ${err.message}\n`);
        process.exit(2);
    }
    const client = await soap.createClientAsync(WSDL, { endpoint: opts.url });
    const options = requestOptions(opts);
    const ctx = { Context: CONTEXT };

    const notMandantWide = { attributes: { 'mandant-wide': false } };
    await call(client, options, 'GetCardTerminals', { ...notMandantWide, ...ctx });
    await call(client, options, 'GetCards', { ...notMandantWide, ...ctx });
    await call(client, options, 'GetResourceInformation', ctx);
    const sub = await call(client, options, 'Subscribe',
        { ...ctx, Subscription: { EventTo: EVENT_TO, Topic: 'CARD' } });
    const id = sub && sub.SubscriptionID;
    if (!id) throw new Error('Subscribe returned no SubscriptionID');
    await call(client, options, 'GetSubscription', { ...ctx, SubscriptionID: id });
    await call(client, options, 'RenewSubscriptions', { ...ctx, SubscriptionID: [id] });
    await call(client, options, 'Unsubscribe', { ...ctx, SubscriptionID: id });
}

main().catch((err) => {
    process.stderr.write(`event_client: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
});
