# A flood of requests while the responses are lost: past max_pending_requests the
# oldest is reported without response (pending_overflow). When the server side comes
# back after its gap, the response answers the newest request that started before it
# (serial client); the older waiting ones get NO_RESPONSE|GAP; the last request, sent
# after that response began, waits and gets NO_RESPONSE|GAP at close.
limits max_pending_requests=3
>>> t=1
GET /1 HTTP/1.1\r\n\r\n
>>> t=2
GET /2 HTTP/1.1\r\n\r\n
>>> t=3
GET /3 HTTP/1.1\r\n\r\n
>>> t=4
GET /4 HTTP/1.1\r\n\r\n
>>> t=5
GET /5 HTTP/1.1\r\n\r\n
gap < 5000 t=6
<<< t=6
HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
>>> t=7
GET /6 HTTP/1.1\r\n\r\n
== expect
ex GET path=/1 req=19 flags=no_response
ex GET path=/2 req=19 flags=no_response
ex GET path=/3 req=19 flags=no_response,gap
ex GET path=/4 req=19 flags=no_response,gap
ex GET path=/5 status=200 req=19 resp=38
ex GET path=/6 req=19 flags=no_response
counters requests=6 responses=1 pending_overflow=2 gaps=1
