# Chunked response with chunk extensions, upper-case hex, and trailer fields; then a
# chunked request body (last-chunk only with extension).
>>> t=1
GET /stream HTTP/1.1\r\nHost: c\r\n\r\n
<<< t=2
HTTP/1.1 200 OK\r\n
Transfer-Encoding: chunked\r\n
Trailer: Expires\r\n
\r\n
4;name=value;x="q"\r\n
Wiki\r\n
A\r\n
0123456789\r\n
0;last\r\n
Expires: never\r\n
X-Checksum: 1\r\n
\r\n
>>> t=3
POST /up HTTP/1.1\r\nHost: c\r\nTransfer-Encoding: chunked\r\n\r\n
3\r\nabc\r\n0;done\r\n\r\n
<<< t=4
HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n
== expect
ex GET host=c path=/stream status=200 req=33 resp=147
ex POST host=c path=/up status=201 req=76 resp=43
counters requests=2 responses=2
