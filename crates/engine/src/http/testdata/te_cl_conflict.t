# Transfer-Encoding: chunked and Content-Length together: chunked wins (RFC 9112), so
# the smuggled-looking request after the chunked body is a request of its own.
# A request whose Transfer-Encoding does not end in chunked is malformed.
>>> t=1
POST /a HTTP/1.1\r\n
Host: t\r\n
Content-Length: 4\r\n
Transfer-Encoding: chunked\r\n
\r\n
0\r\n
\r\n
GET /smuggled HTTP/1.1\r\n
Host: t\r\n
\r\n
POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n
<<< t=2
HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
HTTP/1.1 200 OK\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n
HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n\r\n
== expect
ex POST host=t path=/a status=200 req=81 resp=38
ex GET host=t path=/smuggled status=200 req=35 resp=71
ex POST host=t path=/b status=501 req=54 resp=51 flags=malformed
counters requests=3 responses=3 te_cl_conflicts=2 bad_transfer_encoding=1
