# Without sync, only a plausible request line starts HTTP: a malformed first request
# line is not reported (tshark, going by port and method list, would count it) and the
# server's 400 has no request. The next, well-formed request is found at its line.
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
ex - status=400 resp=47 flags=no_request
ex GET host=x path=/ok status=200 req=29 resp=38
counters requests=1 responses=2 responses_without_request=1
