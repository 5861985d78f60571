# Keep-alive, one request at a time; the capture lost the whole second response. The
# gap is reported when the server's next segment arrives. The response after the gap
# answers the newest waiting request (the client is serial); the older one gets
# NO_RESPONSE|GAP, and the pairing of the following exchanges is right.
>>> t=10
GET /1 HTTP/1.1\r\nHost: k\r\n\r\n
<<< t=11
HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na
>>> t=20
GET /2 HTTP/1.1\r\nHost: k\r\n\r\n
>>> t=30
GET /3 HTTP/1.1\r\nHost: k\r\n\r\n
gap < 39 t=31
<<< t=31
HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nc
>>> t=40
GET /4 HTTP/1.1\r\nHost: k\r\n\r\n
<<< t=41
HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nd
== expect
ex GET host=k path=/1 status=200 req=28 resp=39 latency=1000000
ex GET host=k path=/2 req=28 flags=no_response,gap
ex GET host=k path=/3 status=201 req=28 resp=44 latency=1000000
ex GET host=k path=/4 status=404 req=28 resp=46 latency=1000000
counters requests=4 responses=3 gaps=1 resyncs=1
