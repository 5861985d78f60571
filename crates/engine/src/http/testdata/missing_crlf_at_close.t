# The client sends a head without its final CRLF and closes: the request is reported
# with what is known (Host from the last, unterminated line), TRUNCATED, no response.
>>> t=1
GET /cut HTTP/1.1\r\n
Host: cut.test\r\n
User-Agent: half
fin >
== expect
ex GET host=cut.test path=/cut ua=half status=none req=51 flags=no_response,truncated
counters requests=1
