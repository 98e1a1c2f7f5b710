-- wrk: POST the GetCards SOAP 1.1 request with the demo context (m1/cs1/ws1), keep-alive
-- (wrk's default). The body comes from the file named after "--":
--   wrk -t2 -c16 -d10s --latency -s getcards.lua URL -- bench/soap/getcards.xml
-- Responses other than 2xx are counted by wrk ("Non-2xx or 3xx responses"); run.py fails
-- the run on any.
function init(args)
    local f = assert(io.open(assert(args[1], "usage: -- BODY_FILE"), "rb"))
    wrk.method = "POST"
    wrk.body = f:read("*a")
    f:close()
    wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
    wrk.headers["SOAPAction"] = '"http://ws.gematik.de/conn/EventService/v7.2#GetCards"'
end
