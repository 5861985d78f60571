# A chunk size that overflows 64 bits: bad_chunk, MALFORMED, the response ends there and
# the server side resynchronises at the next status line.
>>> t=1
GET /1 HTTP/1.1\r\nHost: o\r\n\r\nGET /2 HTTP/1.1\r\nHost: o\r\n\r\n
<<< t=2
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n
10000000000000000\r\n
junk junk\r\n
HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n
== expect
ex GET host=o path=/1 status=200 req=28 resp=64 flags=malformed
ex GET host=o path=/2 status=404 req=28 resp=45
counters requests=2 responses=2 bad_chunk=1 resyncs=1
