# A reset in the middle of a response body: the exchange is reported TRUNCATED; the
# request pipelined behind it gets NO_RESPONSE.
>>> t=1
GET /big HTTP/1.1\r\nHost: r\r\n\r\nGET /next HTTP/1.1\r\nHost: r\r\n\r\n
<<< t=2
HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n
0123456789
rst
>>> t=5
GET /after-reset HTTP/1.1\r\n\r\n
== expect
ex GET host=r path=/big status=200 req=30 resp=51 flags=truncated
ex GET host=r path=/next req=31 flags=no_response
counters requests=2 responses=1
