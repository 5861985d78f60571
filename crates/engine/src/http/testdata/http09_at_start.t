# A versionless line with a known method at the start of a connection is a request
# (its head never ends here, so it is reported truncated at close). The server's raw
# answer is no response head: skipped, as a response the capture could not frame (gap).
>>> t=1
GET /old.html\r\n
<<< t=2
<html>old</html>\n
fin <
== expect
ex GET host= path=/old.html status=none req=15 resp=0 flags=no_response,gap,truncated ver=0.9 ua= interim=0 ts=1 latency=none
counters requests=1
