# Malformed request lines on a synchronised connection. A line with no method gives no
# exchange (the server's 400 has no request). A line with a known method is a MALFORMED
# request whose head runs to the blank line: here the second broken line swallows the
# next request line as a header line (as a server would read it).
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
ex GET host=m path=/ok status=200 req=29 resp=38 flags= ver=1.1 ua= interim=0 ts=1 latency=1000000
ex - host= path= status=400 req=0 resp=71 flags=no_request ver=1.1 ua= interim=0 ts=4 latency=none
ex GET host= path=/mid status=200 req=21 resp=38 flags= ver=1.1 ua= interim=0 ts=5 latency=1000000
ex GET host=m path=/ status=400 req=28 resp=47 flags=malformed ver=0.0 ua= interim=0 ts=7 latency=1000000
ex GET host=m path=/ status=200 req=48 resp=38 flags=malformed ver=0.0 ua= interim=0 ts=7 latency=3000000
counters requests=4 responses=5 malformed_requests=4 responses_without_request=1 resyncs=1
