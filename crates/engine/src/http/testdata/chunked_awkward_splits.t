# A chunked response delivered in segments cut at every awkward place: inside the
# status line, between CR and LF of the empty line, inside the chunk size, between size
# and CRLF, inside the data, between data and its CRLF, inside the last chunk, inside the
# trailer and its final CRLF. The next response must still pair.
>>> t=1
GET /a HTTP/1.1\r\nHost: s\r\n\r\nGET /b HTTP/1.1\r\nHost: s\r\n\r\n
<<< t=2
HTTP/1.
<<< t=3
1 200 OK\r\nTransfer-Encoding: chunked\r\n\r
<<< t=4
\n1
<<< t=5
a
<<< t=6
\r
<<< t=7
\n0123456789ab
<<< t=8
cdefghijklmnop\r
<<< t=9
\n0
<<< t=10
\r\nX-T
<<< t=11
: 1\r\n\r
<<< t=12
\nHTTP/1.1 204 No Content\r\n\r\n
== expect
ex GET host=s path=/a status=200 req=28 resp=92 latency=1000000
ex GET host=s path=/b status=204 req=28 resp=27 latency=11000000
counters requests=2 responses=2
