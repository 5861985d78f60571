# A header block that never ends: past max_header_bytes the request is reported with
# its request line and the header lines seen (TRUNCATED), and the client side
# resynchronises at the next request line.
limits max_header_bytes=64
>>> t=1
GET /endless HTTP/1.1\r\n
Host: e\r\n
X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n
X-More: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n
GET /next HTTP/1.1\r\n
Host: e\r\n
\r\n
<<< t=2
HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\n\r\n
HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
== expect
ex GET host=e path=/endless status=431 req=64 resp=45 flags=truncated
ex GET host=e path=/next status=200 req=31 resp=38
counters requests=2 responses=2 header_too_large=1 resyncs=1
