# Only the server side is captured: a 100 Continue and a 200 without any request. Each
# is reported as a response without request.
>>> t=1
HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok
server_is_orig
== expect
ex - status=100 resp=25 flags=no_request
ex - status=200 resp=40 flags=no_request
counters responses=2 responses_without_request=2
