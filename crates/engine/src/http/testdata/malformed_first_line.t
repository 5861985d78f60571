# Without sync, a line starting with a known method and a space is a request line even
# when malformed (as tshark counts it): the server's 400 pairs with it. The next,
# well-formed request is found at its line.
>>> t=1
GET / HTTP/1.\r\n
Host: x\r\n
\r\n
<<< t=2
HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n
>>> t=3
GET /ok HTTP/1.1\r\nHost: x\r\n\r\n
<<< t=4
HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
== expect
ex GET host=x path=/ status=400 req=26 resp=47 flags=malformed ver=0.0 ua= interim=0 ts=1 latency=1000000
ex GET host=x path=/ok status=200 req=29 resp=38 flags= ver=1.1 ua= interim=0 ts=3 latency=1000000
counters requests=2 responses=2 malformed_requests=1
