//! The SOCKS5 handshake (RFC 1928, with RFC 1929 username/password authentication) as
//! a push parser over both directions: the client's greeting, optional authentication
//! and CONNECT request; the server's method selection, optional authentication status
//! and reply. After a side's last handshake message, its bytes are the tunnel's.
//!
//! Contract: total over arbitrary bytes, byte by byte with a few bytes of state (names and
//! passwords are skipped, never stored): the same answers whatever way each direction is
//! split. The connection is recognised as SOCKS5 (counted in `PrefaceCounters::socks5`)
//! when the server selects a method after a well-formed greeting; a failure before that
//! means "not SOCKS5" (not counted), after it "malformed" (counted).

use super::PrefaceCounters;

/// How one side's handshake ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SideEnd {
    /// This side's handshake is over; what follows is the tunnel.
    Tunnel,
    /// The handshake is over for the connection without a tunnel of parsed streams: the
    /// server refused, a method or command httptop does not follow, a malformed message
    /// or not SOCKS5 at all.
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Client {
    GreetVer,
    GreetCount,
    GreetMethods,
    /// First byte of the next message: 1 (authentication) or 5 (request).
    Next,
    AuthUserLen,
    AuthUser,
    AuthPassLen,
    AuthPass,
    ReqVer,
    ReqCmd,
    ReqRsv,
    ReqAtyp,
    ReqNameLen,
    ReqAddr,
    ReqPort,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    SelVer,
    SelMethod,
    AuthVer,
    AuthStatus,
    RepVer,
    RepCode,
    RepRsv,
    RepAtyp,
    RepNameLen,
    RepAddr,
    RepPort,
}

/// Both directions of one SOCKS5 handshake.
#[derive(Debug)]
pub(crate) struct Socks5 {
    client: Client,
    server: Server,
    /// Bytes left in the current variable-length field, per side.
    left: [u16; 2],
    /// The server selected a method after a complete greeting.
    recognised: bool,
    greeted: bool,
    /// The reply's code (0: succeeded).
    rep: u8,
}

impl Socks5 {
    pub fn new() -> Self {
        Socks5 {
            client: Client::GreetVer,
            server: Server::SelVer,
            left: [0; 2],
            recognised: false,
            greeted: false,
            rep: 0,
        }
    }

    fn fail(&self, c: &mut PrefaceCounters) -> Option<SideEnd> {
        if self.recognised {
            c.malformed_preface += 1;
        }
        Some(SideEnd::Failed)
    }

    /// Bytes of the client's `data` consumed and, once its handshake is over, how.
    pub fn feed_client(
        &mut self,
        data: &[u8],
        c: &mut PrefaceCounters,
    ) -> (usize, Option<SideEnd>) {
        for (i, &b) in data.iter().enumerate() {
            let left = &mut self.left[0];
            let mut over = false;
            self.client = match self.client {
                Client::GreetVer if b == 5 => Client::GreetCount,
                Client::GreetCount if b > 0 => {
                    *left = u16::from(b);
                    Client::GreetMethods
                }
                Client::GreetMethods => {
                    *left -= 1;
                    if *left > 0 {
                        Client::GreetMethods
                    } else {
                        self.greeted = true;
                        Client::Next
                    }
                }
                Client::Next if b == 1 => Client::AuthUserLen,
                Client::Next | Client::ReqVer if b == 5 => Client::ReqCmd,
                Client::AuthUserLen | Client::AuthPassLen => {
                    let user = self.client == Client::AuthUserLen;
                    *left = u16::from(b);
                    match (b, user) {
                        (0, true) => Client::AuthPassLen,
                        (0, false) => Client::ReqVer,
                        (_, true) => Client::AuthUser,
                        (_, false) => Client::AuthPass,
                    }
                }
                Client::AuthUser | Client::AuthPass => {
                    *left -= 1;
                    match (*left, self.client) {
                        (0, Client::AuthUser) => Client::AuthPassLen,
                        (0, _) => Client::ReqVer,
                        (_, s) => s,
                    }
                }
                // CONNECT only: BIND and UDP ASSOCIATE carry no stream to follow.
                Client::ReqCmd if b == 1 => Client::ReqRsv,
                Client::ReqRsv => Client::ReqAtyp,
                Client::ReqAtyp | Client::ReqNameLen => match self.address(0, b) {
                    Some(s) => s,
                    None => return (i + 1, self.fail(c)),
                },
                Client::ReqAddr => {
                    *left -= 1;
                    if *left > 0 {
                        Client::ReqAddr
                    } else {
                        *left = 2;
                        Client::ReqPort
                    }
                }
                Client::ReqPort => {
                    *left -= 1;
                    over = *left == 0;
                    Client::ReqPort
                }
                _ => return (i + 1, self.fail(c)),
            };
            if over {
                return (i + 1, Some(SideEnd::Tunnel));
            }
        }
        (data.len(), None)
    }

    /// The address type `b` (at `ReqAtyp`/`RepAtyp`) or the name length `b` (at
    /// `*NameLen`) of side `s` (0 client, 1 server): the next state.
    fn address(&mut self, s: usize, b: u8) -> Option<Client> {
        let at_len = if s == 0 {
            self.client == Client::ReqNameLen
        } else {
            self.server == Server::RepNameLen
        };
        let n = if at_len {
            u16::from(b)
        } else {
            match b {
                1 => 4,
                4 => 16,
                3 => return Some(Client::ReqNameLen),
                _ => return None,
            }
        };
        self.left[s] = n;
        if n == 0 {
            self.left[s] = 2;
            return Some(Client::ReqPort);
        }
        Some(Client::ReqAddr)
    }

    /// Bytes of the server's `data` consumed and, once its handshake is over, how.
    pub fn feed_server(
        &mut self,
        data: &[u8],
        c: &mut PrefaceCounters,
    ) -> (usize, Option<SideEnd>) {
        for (i, &b) in data.iter().enumerate() {
            let mut over = false;
            self.server = match self.server {
                Server::SelVer if b == 5 && self.greeted => Server::SelMethod,
                Server::SelMethod => {
                    self.recognised = true;
                    c.socks5 += 1;
                    match b {
                        0 => Server::RepVer,
                        2 => Server::AuthVer,
                        // 0xff (no acceptable method) or one whose traffic is
                        // encapsulated (GSSAPI...): no stream to parse.
                        _ => return (i + 1, Some(SideEnd::Failed)),
                    }
                }
                Server::AuthVer if b == 1 => Server::AuthStatus,
                Server::AuthStatus if b == 0 => Server::RepVer,
                Server::AuthStatus => return (i + 1, Some(SideEnd::Failed)),
                Server::RepVer if b == 5 => Server::RepCode,
                Server::RepCode => {
                    self.rep = b;
                    Server::RepRsv
                }
                Server::RepRsv => Server::RepAtyp,
                Server::RepAtyp | Server::RepNameLen => match self.address(1, b) {
                    Some(Client::ReqNameLen) => Server::RepNameLen,
                    Some(Client::ReqPort) => Server::RepPort,
                    Some(_) => Server::RepAddr,
                    None => return (i + 1, self.fail(c)),
                },
                Server::RepAddr => {
                    self.left[1] -= 1;
                    if self.left[1] > 0 {
                        Server::RepAddr
                    } else {
                        self.left[1] = 2;
                        Server::RepPort
                    }
                }
                Server::RepPort => {
                    self.left[1] -= 1;
                    over = self.left[1] == 0;
                    Server::RepPort
                }
                _ => return (i + 1, self.fail(c)),
            };
            if over {
                let end = if self.rep == 0 {
                    SideEnd::Tunnel
                } else {
                    SideEnd::Failed
                };
                return (i + 1, Some(end));
            }
        }
        (data.len(), None)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const GREETING: &[u8] = &[5, 1, 0];
    pub(crate) const SELECT: &[u8] = &[5, 0];
    pub(crate) const REQUEST: &[u8] = &[5, 1, 0, 1, 10, 0, 0, 2, 0, 80];
    pub(crate) const REPLY: &[u8] = &[5, 0, 0, 1, 10, 0, 0, 2, 0x9c, 0x40];

    /// One side fed whole, at every split and byte by byte: one answer, and "need
    /// more" with everything consumed at every truncated length.
    fn side(
        prep: &dyn Fn(&mut Socks5, &mut PrefaceCounters),
        client: bool,
        input: &[u8],
    ) -> ((usize, Option<SideEnd>), PrefaceCounters) {
        let run = |cuts: &[usize]| {
            let mut s = Socks5::new();
            let mut c = PrefaceCounters::default();
            prep(&mut s, &mut c);
            let mut at = 0;
            for &end in cuts.iter().chain([input.len()].iter()) {
                let end = end.max(at);
                let (n, v) = if client {
                    s.feed_client(&input[at..end], &mut c)
                } else {
                    s.feed_server(&input[at..end], &mut c)
                };
                at += n;
                if v.is_some() {
                    return ((at, v), c);
                }
                assert_eq!(at, end, "need more consumes everything");
            }
            ((at, None), c)
        };
        let whole = run(&[]);
        for cut in 0..=input.len() {
            assert_eq!(run(&[cut]), whole, "split at {cut}");
            if cut < whole.0 .0 {
                let truncated = &input[..cut];
                let mut s = Socks5::new();
                let mut c = PrefaceCounters::default();
                prep(&mut s, &mut c);
                let got = if client {
                    s.feed_client(truncated, &mut c)
                } else {
                    s.feed_server(truncated, &mut c)
                };
                assert_eq!(got, (cut, None), "truncated at {cut}");
            }
        }
        let bytes: Vec<usize> = (1..input.len()).collect();
        assert_eq!(run(&bytes), whole, "byte by byte");
        whole
    }

    fn none(_: &mut Socks5, _: &mut PrefaceCounters) {}

    fn greeted(s: &mut Socks5, c: &mut PrefaceCounters) {
        assert_eq!(s.feed_client(GREETING, c), (3, None));
    }

    #[test]
    fn a_connect_handshake_opens_the_tunnel_on_both_sides() {
        let mut client = [GREETING, REQUEST, b"GET / HTTP/1.1\r\n"].concat();
        let ((n, v), c) = side(&none, true, &client);
        assert_eq!((n, v), (13, Some(SideEnd::Tunnel)));
        assert_eq!(c, PrefaceCounters::default(), "recognised by the server");
        let server = [SELECT, REPLY, b"HTTP/1.1 200 OK\r\n"].concat();
        let ((n, v), c) = side(&greeted, false, &server);
        assert_eq!((n, v), (12, Some(SideEnd::Tunnel)));
        assert_eq!(c.socks5, 1);
        // A domain name and username/password authentication.
        client = [
            &[5, 2, 0, 2][..],
            &[1, 4, b'u', b's', b'e', b'r', 2, b'p', b'w'],
            &[5, 1, 0, 3, 11],
            b"example.com",
            &[0, 80],
        ]
        .concat();
        let ((n, v), _) = side(&none, true, &client);
        assert_eq!((n, v), (client.len(), Some(SideEnd::Tunnel)));
        let server = [&[5, 2, 1, 0][..], REPLY].concat();
        let greeted2 = |s: &mut Socks5, c: &mut PrefaceCounters| {
            let _ = s.feed_client(&[5, 2, 0, 2], c);
        };
        let ((n, v), _) = side(&greeted2, false, &server);
        assert_eq!((n, v), (server.len(), Some(SideEnd::Tunnel)));
        // IPv6 addresses, and an empty user name.
        let v6 = [&[5, 1, 2, 1, 0, 0, 5, 1, 0, 4][..], &[0x20; 16], &[1, 187]].concat();
        let ((n, v), _) = side(&none, true, &v6);
        assert_eq!((n, v), (v6.len(), Some(SideEnd::Tunnel)));
    }

    #[test]
    fn refusals_and_unfollowed_methods_end_without_a_tunnel() {
        for server in [
            &[5, 0xff][..],
            &[5, 1],
            &[5, 2, 1, 1],
            &[5, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0],
        ] {
            let ((n, v), c) = side(&greeted, false, server);
            assert_eq!((n, v), (server.len(), Some(SideEnd::Failed)), "{server:?}");
            assert_eq!((c.socks5, c.malformed_preface), (1, 0), "{server:?}");
        }
        let bind = [GREETING, &[5, 2, 0, 1, 1, 2, 3, 4, 0, 80]].concat();
        let ((n, v), _) = side(&none, true, &bind);
        assert_eq!((n, v), (5, Some(SideEnd::Failed)));
    }

    #[test]
    fn not_socks_is_not_counted_and_malformed_after_recognition_is() {
        for client in [&[5, 0][..], &[4, 1, 0, 80], &[5, 1, 0, 7]] {
            let ((_, v), c) = side(&none, true, client);
            assert_eq!(v, Some(SideEnd::Failed), "{client:?}");
            assert_eq!(c, PrefaceCounters::default());
        }
        // The server answers before any greeting, or with another version.
        let ((_, v), c) = side(&none, false, &[5, 0]);
        assert_eq!((v, c.socks5), (Some(SideEnd::Failed), 0));
        let ((_, v), c) = side(&greeted, false, &[4, 0]);
        assert_eq!((v, c.socks5), (Some(SideEnd::Failed), 0));
        // Recognised, then a reply with an unknown address type.
        let ((n, v), c) = side(&greeted, false, &[5, 0, 5, 0, 0, 9, 1, 2]);
        assert_eq!((n, v), (6, Some(SideEnd::Failed)));
        assert_eq!((c.socks5, c.malformed_preface), (1, 1));
    }
}
