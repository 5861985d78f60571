# A gap inside a request head: the request (its line is known) is reported with
# GAP|TRUNCATED; the client side resynchronises at the next request line, which starts
# right after the gap.
>>> t=1
GET /first HTTP/1.1\r\nHost: g\r\nUser-Ag
gap 25
>>> t=3
GET /second HTTP/1.1\r\nHost: g\r\n\r\n
<<< t=4
HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx
== expect
ex GET host=g path=/first status=200 req=37 resp=38 flags=gap,truncated
ex GET host=g path=/second status=200 req=33 resp=39
counters requests=2 responses=2 gaps=1 resyncs=1
