# Several requests in one segment, several responses in one segment (and one response
# split across the two server segments), paired in order.
>>> t=10
GET /1 HTTP/1.1\r\nHost: p\r\n\r\n
GET /2 HTTP/1.1\r\nHost: p\r\n\r\n
HEAD /3 HTTP/1.1\r\nHost: p\r\n\r\n
GET /4 HTTP/1.1\r\nHost: p\r\n\r\n
<<< t=20
HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok
HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n
HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n
HTTP/1.1 500 Internal\r\nContent-Length: 4\r\n\r\nx
<<< t=30
yzw
== expect
ex GET host=p path=/1 status=200 req=28 resp=40 ts=10 latency=10000000
ex GET host=p path=/2 status=404 req=28 resp=67 ts=10 latency=10000000
ex HEAD host=p path=/3 status=200 req=29 resp=40 ts=10 latency=10000000
ex GET host=p path=/4 status=500 req=28 resp=48 ts=10 latency=10000000
counters requests=4 responses=4
