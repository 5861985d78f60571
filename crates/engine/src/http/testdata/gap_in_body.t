# Gaps inside bodies of known size (Content-Length request body, Content-Length
# response body, a chunk): skipped, the exchange gets GAP, lost bytes still count, and
# the connection stays synchronised.
>>> t=1
POST /up HTTP/1.1\r\nHost: g\r\nContent-Length: 20\r\n\r\n
01234
gap 10
>>> t=3
56789
<<< t=4
HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n
0123456789012345678901234567890123456789
gap 30
<<< t=6
012345678901234567890123456789
>>> t=7
GET /chunks HTTP/1.1\r\nHost: g\r\n\r\n
<<< t=8
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n
20\r\n0123
gap 20
<<< t=10
01234567\r\n0\r\n\r\n
== expect
ex POST host=g path=/up status=200 req=70 resp=140 flags=gap
ex GET host=g path=/chunks status=200 req=33 resp=90 flags=gap
counters requests=2 responses=2 body_gaps=3
