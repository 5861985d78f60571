# A response whose status line does not parse on a synchronised server side:
# malformed_responses, not a response; the request is flagged MALFORMED and the bytes
# count to it while the server side hunts for the next status line, which answers the
# same request (the bad line was a preamble: no request started after it).
>>> t=1
GET /a HTTP/1.1\r\nHost: r\r\n\r\nGET /b HTTP/1.1\r\nHost: r\r\n\r\n
<<< t=2
HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
HTTP/1.1 OK\r\n
\r\n
HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n
== expect
ex GET host=r path=/a status=200 req=28 resp=38
ex GET host=r path=/b status=502 req=28 resp=62 flags=malformed
counters requests=2 responses=2 malformed_responses=1 resyncs=1
