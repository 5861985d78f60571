# A versionless request line (HTTP/0.9) after an HTTP/1.1 exchange. Its head would run
# to a blank line (as tshark reads it), but the server answers first, without a status
# line: the answer shows the request was complete. The response is its body until close
# (status none, not MALFORMED, no GAP), counted in responses.
>>> t=1
GET /new HTTP/1.1\r\nHost: old\r\n\r\n
<<< t=2
HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
>>> t=3
GET /old.html\r\n
<<< t=4
<html>old</html>\n
fin <
== expect
ex GET host=old path=/new status=200 req=32 resp=38 flags= ver=1.1 ua= interim=0 ts=1 latency=1000000
ex GET host= path=/old.html status=none req=15 resp=17 flags= ver=0.9 ua= interim=0 ts=3 latency=1000000
counters requests=2 responses=2
