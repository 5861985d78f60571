# A pipelining client (three requests in one segment) and a server-side gap that
# swallowed the second response. Without a way to tell how many responses the gap
# held, pairing stays FIFO for a pipelining client (documented limitation): the third
# response is paired with the second request, and the third request ends without
# response (and, the server being back in sync, no GAP flag).
>>> t=1
GET /1 HTTP/1.1\r\nHost: p\r\n\r\nGET /2 HTTP/1.1\r\nHost: p\r\n\r\nGET /3 HTTP/1.1\r\nHost: p\r\n\r\n
<<< t=2
HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na
gap 39
<<< t=3
HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc
== expect
ex GET host=p path=/1 status=200 req=28 resp=39
ex GET host=p path=/2 status=200 req=28 resp=39
ex GET host=p path=/3 req=28 flags=no_response
counters requests=3 responses=2 gaps=1 resyncs=1
