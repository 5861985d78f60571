# Two different Content-Length values: bad (request resyncs). Repeated equal values and
# an `n, n` list are accepted.
>>> t=1
POST /dup HTTP/1.1\r\nHost: d\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc\r\n
POST /same HTTP/1.1\r\nHost: d\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc
<<< t=2
HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n
HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok
== expect
ex POST host=d path=/dup status=400 req=70 resp=47 flags=malformed
ex POST host=d path=/same status=200 req=73 resp=43
counters requests=2 responses=2 bad_content_length=1 resyncs=1
