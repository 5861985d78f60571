# Bare LF line ends in request and response heads and in chunked framing.
>>> t=1
GET /lf HTTP/1.1\n
Host: lf.test\n
User-Agent: nc\n
\n
<<< t=2
HTTP/1.1 200 OK\n
Transfer-Encoding: chunked\n
\n
2\n
ab\n
0\n
\n
>>> t=3
GET /again HTTP/1.0\nHost: lf.test\n\n
<<< t=4
HTTP/1.0 204 No Content\n\n
== expect
ex GET host=lf.test path=/lf ua=nc status=200 req=47 resp=52
ex GET host=lf.test path=/again status=204 req=35 resp=25
counters requests=2 responses=2
