# TLS on both sides: neither first line can start HTTP, the connection is marked dead
# and nothing is reported.
>>> t=1
\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03GET / HTTP/1.1\r\n
<<< t=2
\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03
>>> t=3
GET / HTTP/1.1\r\n\r\n
== expect
counters not_http_connections=1
dead
