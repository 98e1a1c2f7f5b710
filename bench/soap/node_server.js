#!/usr/bin/env node
// The Node.js SOAP peer of the SOAP benchmark (bench/README.md, "SOAP"): the npm `soap`
// package (node-soap) serving EventService v7.2 from the gematik EventService.wsdl, as in the
// peer-baseline study (Area 1). It implements GetCards only and answers every call with
// Status OK and three fixed cards (SMC-B, EGK, HBA), a schema-valid response.
//
// usage: node node_server.js [PORT]
//   Listens on 127.0.0.1:PORT (default 0: a free port) at /ws/EventService and prints
//   "listening 127.0.0.1:PORT" on stdout once node-soap has parsed the WSDL and answers SOAP.
// Environment: KONN_API_TELEMATIK names the api-telematik checkout (default
// ../shared/api-telematik beside the repository).
//
// It uses the soap module that scripts/install-deps installs in tests/interop/node, so the
// repository keeps a single npm tree.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const { createRequire } = require('module');

const ROOT = path.resolve(__dirname, '..', '..');
const soap = createRequire(path.join(ROOT, 'tests', 'interop', 'node', 'package.json'))('soap');
const API_TELEMATIK = process.env.KONN_API_TELEMATIK ||
    path.join(path.dirname(ROOT), 'shared', 'api-telematik');
const WSDL = path.join(API_TELEMATIK, 'conn', 'EventService.wsdl');

// node-soap's server serialises every child in the operation's namespace (EVT) unless the key
// carries an explicit prefix: it passes no schema type for document/literal output, so it
// never follows the ref= elements into CONN, CARD and CARDCMN. The prefixes are therefore
// spelled out here and their namespaces declared on the response element.
const NS = {
    'xmlns:CONN': 'http://ws.gematik.de/conn/ConnectorCommon/v5.0',
    'xmlns:CARD': 'http://ws.gematik.de/conn/CardService/v8.1',
    'xmlns:CARDCMN': 'http://ws.gematik.de/conn/CardServiceCommon/v2.0',
};
const version = (major, minor, revision) =>
    ({ 'CARD:Major': major, 'CARD:Minor': minor, 'CARD:Revision': revision });

function card(c) {
    const out = {
        'CONN:CardHandle': c.handle,
        'CARDCMN:CardType': c.type, // the schema spells the eGK "EGK"
        'CARD:CardVersion': {
            'CARD:COSVersion': version(4, 5, 0),
            'CARD:ObjectSystemVersion': c.osv,
        },
        'CARDCMN:Iccsn': c.iccsn,
        'CARDCMN:CtId': c.ct,
        'CARDCMN:SlotId': c.slot,
        'CARD:InsertTime': c.inserted,
        'CARD:CardHolderName': c.holder,
    };
    if (c.kvnr) out['CARD:Kvnr'] = c.kvnr;
    out['CARD:CertificateExpirationDate'] = c.expires;
    return out;
}

const CARDS = [
    card({ handle: 'SMC-B-1', type: 'SMC-B', osv: version(4, 8, 0), iccsn: '80276883110000017222',
        ct: 'CT1', slot: 1, inserted: '2024-05-01T08:00:00Z', holder: 'Praxis Dr. Test',
        expires: '2028-12-31' }),
    card({ handle: 'EGK-1', type: 'EGK', osv: version(4, 4, 0), iccsn: '80276883110000129084',
        ct: 'CT1', slot: 2, inserted: '2024-05-01T08:05:00Z', holder: 'Erika Mustermann',
        kvnr: 'X110435031', expires: '2027-06-30' }),
    card({ handle: 'HBA-1', type: 'HBA', osv: version(4, 6, 0), iccsn: '80276883110000203050',
        ct: 'CT2', slot: 1, inserted: '2024-05-01T08:10:00Z', holder: 'Dr. Hans Test',
        expires: '2029-03-31' }),
];

const services = {
    EventService: {
        EventServicePort: {
            GetCards() {
                return {
                    attributes: NS,
                    'CONN:Status': { 'CONN:Result': 'OK' },
                    'CARD:Cards': { 'CARD:Card': CARDS },
                };
            },
        },
    },
};

function main() {
    const arg = process.argv[2] || '0';
    const port = Number(arg);
    if (!/^[0-9]+$/.test(arg) || port > 65535) {
        process.stderr.write('usage: node node_server.js [PORT]\n');
        process.exit(2);
    }
    const xml = fs.readFileSync(WSDL, 'utf8');
    // Until node-soap has parsed the WSDL (about 0.3 s) the plain server answers 404.
    const server = http.createServer((req, res) => {
        res.statusCode = 404;
        res.end();
    });
    server.keepAliveTimeout = 65000;
    server.listen(port, '127.0.0.1', () => {
        const bound = server.address().port;
        const soapServer = soap.listen(server, {
            path: '/ws/EventService', services, xml, uri: WSDL,
            callback: (err) => {
                if (err) {
                    process.stderr.write(`node_server: ${err.stack || err}\n`);
                    process.exit(1);
                }
                process.stdout.write(`listening 127.0.0.1:${bound}\n`);
            },
        });
        soapServer.log = () => {};
    });
    const stop = () => server.close(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
}

main();
