# A negative Content-Length on a request: bad_content_length, MALFORMED, the body is
# not trusted: the client side resynchronises at the next request line (the body
# lines are skipped). The server's 400 pairs with the malformed request.
>>> t=1
POST /a HTTP/1.1\r\n
Host: n\r\n
Content-Length: -5\r\n
\r\n
hello\r\n
GET /after HTTP/1.1\r\n
Host: n\r\n
\r\n
<<< t=2
HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n
HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
== expect
ex POST host=n path=/a status=400 req=49 resp=47 flags=malformed
ex GET host=n path=/after status=200 req=32 resp=38
counters requests=2 responses=2 bad_content_length=1 resyncs=1
