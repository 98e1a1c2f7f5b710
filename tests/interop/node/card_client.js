#!/usr/bin/env node
// Interop client: the npm `soap` package (node-soap) calls all six CardService v8.1.2
// operations of a connector through the gematik CardService_v8_1_2.wsdl, on the PIN.CH of
// the eGK whose handle is given, with the demo context (m1/cs1/ws1), and prints one JSON line
// per call on stdout (as event_client.js does):
//   {"operation":"VerifyPin","ok":true,"request":"<soap:Envelope ...>","response":"<...>"}
// The calling test turns the card's auto-PIN on (the PIN pad enters the stored PIN and PUK)
// and types the new PIN of ChangePin on the virtual PIN pad while this client waits.
//
// usage: node card_client.js ENDPOINT_URL --handle CARD_HANDLE [--ca FILE | --insecure]
//                             [--cert FILE --key FILE | --pfx FILE [--passphrase PW]]
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
const WSDL = path.join(API_TELEMATIK, 'conn', 'CardService_v8_1_2.wsdl');
const CONTEXT = { MandantId: 'm1', ClientSystemId: 'cs1', WorkplaceId: 'ws1' };

function parseArgs(argv) {
    const opts = {
        url: null, handle: null, ca: null, insecure: false, cert: null, key: null, pfx: null, passphrase: null,
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--ca') opts.ca = argv[++i];
        else if (a === '--insecure') opts.insecure = true;
        else if (a === '--cert') opts.cert = argv[++i];
        else if (a === '--key') opts.key = argv[++i];
        else if (a === '--pfx') opts.pfx = argv[++i];
        else if (a === '--passphrase') opts.passphrase = argv[++i];
        else if (a === '--handle') opts.handle = argv[++i];
        else if (!a.startsWith('--') && !opts.url) opts.url = a;
        else throw new Error(`unknown argument '${a}'`);
    }
    if (!opts.url) throw new Error('missing ENDPOINT_URL');
    if (!opts.handle) throw new Error('missing --handle');
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
        process.stderr.write(`card_client: ${err.message}\n`);
        process.exit(2);
    }
    const client = await soap.createClientAsync(WSDL, { endpoint: opts.url });
    const options = requestOptions(opts);
    const args = { Context: CONTEXT, CardHandle: opts.handle, PinTyp: 'PIN.CH' };

    await call(client, options, 'GetPinStatus', args);
    await call(client, options, 'VerifyPin', args);
    await call(client, options, 'ChangePin', args);
    await call(client, options, 'UnblockPin', { ...args, SetNewPin: false });
    await call(client, options, 'DisablePin', args);
    await call(client, options, 'EnablePin', args);
}

main().catch((err) => {
    process.stderr.write(`card_client: ${err.stack || err}\n`);
    process.exit(1);
});
