# A lower-case status line (HTTP-name is case-sensitive, RFC 9112): a response, but a
# malformed one. The request is flagged MALFORMED, status none, with every byte of the
# answer (the side skips to the next start line: none before close); no GAP, nothing was
# lost. A second request sent after that answer began is answered by the next line
# start after it (a serial client), malformed again. tshark shows both answers as
# "Continuation" data with no response.
>>> t=1
GET /a HTTP/1.1\r\nHost: x\r\n\r\n
<<< t=2
http/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello
>>> t=3
GET /b HTTP/1.1\r\nHost: x\r\n\r\n
<<< t=4
\r\nhttp/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n
fin <
fin >
== expect
ex GET host=x path=/a status=none req=28 resp=45 flags=malformed ver=1.1 latency=1000000
ex GET host=x path=/b status=none req=28 resp=45 flags=malformed ver=1.1 latency=1000000
counters requests=2 malformed_responses=2 resyncs=0
