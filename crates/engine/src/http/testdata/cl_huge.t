# Content-Length 2^64 overflows u64: bad on a request (resync), read-until-close on a
# response (MALFORMED). 2^64-1 is a valid length: the body then runs to the close and
# is cut short (TRUNCATED).
>>> t=1
PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n
GET /y HTTP/1.1\r\nHost: h\r\n\r\n
<<< t=2
HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n
HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nbody\r\nHTTP/1.1 200 OK\r\n\r\n
fin <
>>> t=3
GET /z HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\nabc
fin >
== expect
ex PUT host=h path=/x status=400 req=66 resp=39 flags=malformed
ex GET host=h path=/y status=200 req=28 resp=85 flags=malformed
ex GET host=h path=/z req=69 flags=no_response,truncated
counters requests=3 responses=2 bad_content_length=2 resyncs=1
