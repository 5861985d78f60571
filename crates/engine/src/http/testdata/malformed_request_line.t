# Malformed request lines on a synchronised connection: not counted as requests. A line
# with no method gives no exchange (the server's 400 has no request); a line that still
# shows `METHOD SP` gives a MALFORMED exchange that the server's 400 pairs with. Each
# time the client side resynchronises at the next request line (while hunting, a bad
# line is skipped without being counted again).
>>> t=1
GET /ok HTTP/1.1\r\nHost: m\r\n\r\n
<<< t=2
HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
>>> t=3
@@@@ garbage\r\n
\r\n
<<< t=4
HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n
>>> t=5
GET /mid HTTP/1.1\r\n\r\n
<<< t=6
HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
>>> t=7
GET / HTTP/1.1x\r\n
Host: m\r\n
\r\n
GET / HTTP/1.1y\r\n
<<< t=8
HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n
>>> t=9
GET /last HTTP/1.1\r\nHost: m\r\n\r\n
<<< t=10
HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
== expect
ex GET host=m path=/ok status=200 req=29 resp=38
ex - status=400 resp=71 flags=no_request
ex GET path=/mid status=200 req=21 resp=38
ex GET path=/ status=400 req=17 resp=47 flags=malformed ver=0.0
ex GET host=m path=/last status=200 req=31 resp=38
counters requests=3 responses=5 malformed_requests=2 responses_without_request=1 resyncs=2
