# SMTP on any port: the server greets first, the client sends a command; neither first
# line is an HTTP start line, so the connection is not HTTP.
<<< t=1
220 mail.example ESMTP Postfix\r\n
>>> t=2
EHLO client.example\r\n
<<< t=3
250-mail.example\r\n250 PIPELINING\r\n
== expect
counters not_http_connections=1
dead
