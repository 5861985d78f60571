# HTTP/0.9 at the start of a connection is not recognised (no sync yet): neither side
# starts with a start line, so the connection is taken for not-HTTP.
>>> t=1
GET /old.html\r\n
<<< t=2
<html>old</html>\n
fin <
== expect
counters not_http_connections=1
dead
