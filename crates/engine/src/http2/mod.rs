//! HTTP/2 (RFC 9113) over cleartext TCP.

mod hpack;
mod huffman;
