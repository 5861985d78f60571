# A response that is not HTTP at all, to a valid request on a synchronised server side
# (after a first exchange): malformed_responses, the request flagged MALFORMED with the
# garbage's bytes, no GAP, until the connection closes.
>>> t=1
GET /a HTTP/1.1\r\nHost: x\r\n\r\n
<<< t=2
HTTP/1.1 204 No Content\r\n\r\n
>>> t=3
GET /b HTTP/1.1\r\nHost: x\r\n\r\n
<<< t=4
\x00\x01garbage that is not http\r\nmore\r\n
fin <
fin >
== expect
ex GET host=x path=/a status=204 req=28 resp=27 ver=1.1
ex GET host=x path=/b status=none req=28 resp=34 flags=malformed ver=1.1 latency=1000000
counters requests=2 responses=1 malformed_responses=1
