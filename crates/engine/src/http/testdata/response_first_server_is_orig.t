# The capture starts mid-connection with a response: the side that sent the status
# line (Orig here) is the server. The response has no request (NO_REQUEST); later
# requests from Resp pair normally.
server_is_orig
>>> t=1
tail of an earlier body\r\n
HTTP/1.1 200 OK\r\n
Content-Length: 4\r\n
\r\n
done
<<< t=2
GET /second HTTP/1.1\r\nHost: mid\r\n\r\n
>>> t=3
HTTP/1.1 304 Not Modified\r\n\r\n
== expect
ex - status=200 resp=42 flags=no_request ver=1.1 ts=1
ex GET host=mid path=/second status=304 req=35 resp=29
counters requests=1 responses=2 responses_without_request=1
