//! One HTTP/2 connection: the frame layer of both directions, their HPACK decoders and
//! the streams (see the contract in `super`).

use super::frame_type::*;
use super::hpack::Decoder;
use super::ws::H2WebSockets;
use super::Http2Counters;
use crate::event::{Event, Exchange, Flags, Version, WebSocketSession, WireStr};
use crate::http::Ctx;
use crate::protocol::{Protocol, ProtocolTable};
use crate::stream::{Dir, StreamEvent};
use crate::websocket::WebSocketCounters;
use httptop_wire::Timestamp;
use std::net::SocketAddr;

/// The client connection preface (RFC 9113 3.4).
pub(crate) const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIO: u8 = 0x20;

/// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 section 3).
const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;

/// Where a direction's frame reader is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Skipping the client preface (after an h2c upgrade: it follows the 101).
    Preface(u8),
    /// Reading a 9-byte frame header.
    Head,
    /// Reading the fixed fields at the start of a payload (pad length, priority,
    /// promised stream, error codes, one SETTINGS entry) into `small`.
    Prefix,
    /// The payload proper (`left - pad` bytes).
    Body,
    /// The padding (`left` bytes).
    Pad,
    /// Frame sync lost (a gap outside a DATA payload): nothing more is read.
    Lost,
}

/// A header block being assembled from HEADERS / PUSH_PROMISE and CONTINUATION.
#[derive(Clone, Copy, Debug, Default)]
struct BlockState {
    active: bool,
    /// The stream the block's fields go to (the promised one for PUSH_PROMISE).
    sid: u32,
    /// The stream the frames travel on.
    frame_sid: u32,
    end_stream: bool,
    push: bool,
    continuations: u32,
    /// Dropped at a cap: fragments are not kept, the block is not decoded.
    dropped: bool,
}

#[derive(Debug)]
struct Side {
    phase: Phase,
    head: [u8; 9],
    have: u8,
    ty: u8,
    flags: u8,
    sid: u32,
    /// Payload bytes of the current frame still to come (prefix, body and padding).
    left: u32,
    /// Padding bytes at the end of the current frame.
    pad: u32,
    /// The body of the current frame is ignored (a malformed frame).
    skip: bool,
    small: [u8; 8],
    small_have: u8,
    small_need: u8,
    /// Time of the current frame's first byte.
    frame_ts: Timestamp,
    blk: BlockState,
    block: Vec<u8>,
    hpack: Decoder,
}

impl Side {
    fn new(phase: Phase) -> Self {
        Side {
            phase,
            head: [0; 9],
            have: 0,
            ty: 0,
            flags: 0,
            sid: 0,
            left: 0,
            pad: 0,
            skip: false,
            small: [0; 8],
            small_have: 0,
            small_need: 0,
            frame_ts: Timestamp::ZERO,
            blk: BlockState::default(),
            block: Vec::new(),
            hpack: Decoder::default(),
        }
    }
}

#[derive(Debug)]
struct Stream {
    id: u32,
    ex: Exchange,
    /// The request's RequestStarted was emitted.
    started: bool,
    /// A final (non-1xx) response HEADERS was seen.
    final_seen: bool,
    /// A pushed stream (PUSH_PROMISE), initiated by the server.
    pushed: bool,
    /// An RFC 8441 extended CONNECT (`:method CONNECT`, `:protocol websocket`).
    ext_connect: bool,
    /// The client sent DATA on it before its 2xx response was seen.
    early_data: bool,
}

/// Which header block of a stream is being decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Request,
    /// A second request HEADERS (request trailers): nothing taken from it.
    RequestTrailers,
    Response,
    Trailers,
}

/// The analyzer of one HTTP/2 connection.
#[derive(Debug)]
pub(crate) struct H2Conn {
    client: Dir,
    /// Addresses by `Dir::index`.
    addrs: [SocketAddr; 2],
    /// By `Dir::index`.
    sides: [Side; 2],
    streams: Vec<Stream>,
    /// The last stream id a GOAWAY said would be processed, by the GOAWAY's sender.
    goaway: [Option<u32>; 2],
    /// Highest stream id opened by each side (by `Dir::index`): lower ids are closed.
    opened: [u32; 2],
    /// A gRPC call was seen (the connection counts in the `grpc` row).
    grpc: bool,
    /// Picked up mid-stream: streams may have begun before the capture.
    mid: bool,
    /// Picked up mid-stream: the first stream id each side (by `Dir::index`) was seen
    /// opening; lower ids of that side began before the capture.
    mid_first: [Option<u32>; 2],
    /// Time of the last event (exchanges still open at close end there).
    last_ts: Timestamp,
    /// WebSocket sessions on extended CONNECT streams (RFC 8441).
    ws: H2WebSockets,
    /// The current DATA frame of each side (by `Dir::index`) goes to a WebSocket session.
    ws_frame: [bool; 2],
    /// The server sent SETTINGS_ENABLE_CONNECT_PROTOCOL = 1.
    connect_protocol: bool,
    /// An extended CONNECT was seen (only then does a client DATA frame look its stream
    /// up for early data).
    ext_seen: bool,
}

/// What the connection needs on a call.
pub(crate) struct H2Ctx<'a, 'b> {
    pub http: &'a mut Ctx<'b>,
    pub counters: &'a mut Http2Counters,
    pub protocols: &'a mut ProtocolTable,
    pub websocket: &'a mut WebSocketCounters,
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl H2Conn {
    /// `client`: the side that sent the preface; `preface_done`: its preface was
    /// already consumed (matched by the probe), else it is expected first on that side.
    pub fn new(orig: SocketAddr, resp: SocketAddr, client: Dir, preface_done: bool) -> Self {
        let client_phase = if preface_done {
            Phase::Head
        } else {
            Phase::Preface(PREFACE.len() as u8)
        };
        let mut sides = [Side::new(Phase::Head), Side::new(Phase::Head)];
        sides[client.index()].phase = client_phase;
        H2Conn {
            client,
            addrs: [orig, resp],
            sides,
            streams: Vec::new(),
            goaway: [None; 2],
            opened: [0; 2],
            grpc: false,
            mid: false,
            mid_first: [None; 2],
            last_ts: Timestamp::ZERO,
            ws: H2WebSockets::default(),
            ws_frame: [false; 2],
            connect_protocol: false,
            ext_seen: false,
        }
    }

    /// A connection picked up mid-stream ([`super::mid`]): both sides read frame
    /// headers from their next byte, but a side whose stream position is not known to
    /// be a frame boundary (`synced` false) is given up (`h2_lost_sync`). The HPACK
    /// tables start empty: references to entries inserted before count as unknown; any
    /// table size the encoders announce is allowed (the SETTINGS were not seen).
    pub fn mid(
        orig: SocketAddr,
        resp: SocketAddr,
        client: Dir,
        synced: [bool; 2],
        counters: &mut Http2Counters,
    ) -> Self {
        let mut h = H2Conn::new(orig, resp, client, true);
        h.mid = true;
        for (side, ok) in h.sides.iter_mut().zip(synced) {
            side.hpack.set_allowed(u32::MAX);
            if !ok {
                side.phase = Phase::Lost;
                counters.h2_lost_sync += 1;
            }
        }
        h
    }

    /// Heap bytes held: streams (with their exchanges' strings), block buffers, HPACK.
    pub fn heap_bytes(&self) -> usize {
        let streams = crate::budget::heap(self.streams.capacity() * std::mem::size_of::<Stream>())
            + self
                .streams
                .iter()
                .map(|s| s.ex.heap_bytes())
                .sum::<usize>();
        streams
            + self
                .sides
                .iter()
                .map(|s| crate::budget::heap(s.block.capacity()) + s.hpack.heap_bytes())
                .sum::<usize>()
            + self.ws.heap_bytes()
    }

    /// The HTTP/1.1 request of an h2c upgrade becomes stream 1's (RFC 9113 3.2 of RFC
    /// 7540): its RequestStarted was already emitted under http/1; the 101 is counted as
    /// an interim response.
    pub fn upgraded(&mut self, mut ex: Exchange) {
        ex.flags = Flags::empty();
        ex.status = None;
        ex.latency_ns = None;
        ex.interim_responses = ex.interim_responses.saturating_add(1);
        ex.version = Version::HTTP2;
        ex.stream_id = 1;
        self.opened[self.client.index()] = 1;
        self.streams.push(Stream {
            id: 1,
            ex,
            started: true,
            final_seen: false,
            pushed: false,
            ext_connect: false,
            early_data: false,
        });
    }

    pub fn feed(&mut self, dir: Dir, ts: Timestamp, ev: StreamEvent<'_>, cx: &mut H2Ctx<'_, '_>) {
        self.last_ts = ts;
        match ev {
            StreamEvent::Data(d) => self.data(dir.index(), ts, d, cx),
            StreamEvent::Gap(n) => self.gap(dir.index(), n, cx),
            StreamEvent::Fin | StreamEvent::Rst => {}
        }
    }

    fn gap(&mut self, d: usize, n: u64, cx: &mut H2Ctx<'_, '_>) {
        let side = &mut self.sides[d];
        let body = u64::from(side.left.saturating_sub(side.pad));
        match side.phase {
            Phase::Body if side.ty == DATA && n <= body => {
                side.left -= n as u32;
                cx.counters.h2_data_gaps += 1;
                let sid = side.sid;
                if let Some(i) = self.find(sid) {
                    self.streams[i].ex.flags.insert(Flags::GAP);
                }
                if self.ws_frame[d] {
                    self.ws.gap(sid, d == self.client.index(), n, cx.websocket);
                }
                self.after_bytes(d, cx);
            }
            Phase::Pad if n <= u64::from(side.left) => {
                side.left -= n as u32;
                cx.counters.h2_data_gaps += 1;
                self.after_bytes(d, cx);
            }
            Phase::Lost => {}
            _ => {
                side.phase = Phase::Lost;
                side.blk = BlockState::default();
                side.block = Vec::new();
                cx.counters.h2_lost_sync += 1;
                for s in &mut self.streams {
                    s.ex.flags.insert(Flags::GAP);
                }
                self.ws.gap_all(d == self.client.index(), cx.websocket);
            }
        }
    }

    fn data(&mut self, d: usize, ts: Timestamp, data: &[u8], cx: &mut H2Ctx<'_, '_>) {
        let mut i = 0;
        while i < data.len() {
            let rest = &data[i..];
            let side = &mut self.sides[d];
            match side.phase {
                Phase::Preface(left) => {
                    let n = usize::from(left).min(rest.len());
                    side.phase = if n == usize::from(left) {
                        Phase::Head
                    } else {
                        Phase::Preface(left - n as u8)
                    };
                    i += n;
                }
                Phase::Head => {
                    if side.have == 0 {
                        side.frame_ts = ts;
                    }
                    let h = usize::from(side.have);
                    let n = (9 - h).min(rest.len());
                    side.head[h..h + n].copy_from_slice(&rest[..n]);
                    side.have += n as u8;
                    i += n;
                    if side.have == 9 {
                        side.have = 0;
                        self.on_head(d, cx);
                    }
                }
                Phase::Prefix => {
                    let h = usize::from(side.small_have);
                    let n = (usize::from(side.small_need) - h).min(rest.len());
                    side.small[h..h + n].copy_from_slice(&rest[..n]);
                    side.small_have += n as u8;
                    side.left -= n as u32;
                    i += n;
                    if side.small_have == side.small_need {
                        self.on_prefix(d, cx);
                    }
                }
                Phase::Body => {
                    let n = ((side.left - side.pad) as usize).min(rest.len());
                    let chunk = &rest[..n];
                    side.left -= n as u32;
                    i += n;
                    if self.ws_frame[d] && !side.skip && side.ty == DATA {
                        let is_client = d == self.client.index();
                        self.ws.data(side.sid, is_client, chunk, ts, cx.websocket);
                    } else if !side.skip && matches!(side.ty, HEADERS | CONTINUATION | PUSH_PROMISE)
                    {
                        let cap = cx.http.limits.max_header_bytes;
                        if !side.blk.dropped {
                            if side.block.len() + chunk.len() > cap {
                                cx.counters.h2_header_blocks_too_large += 1;
                                self.drop_block(d);
                            } else {
                                side.block.extend_from_slice(chunk);
                            }
                        }
                    }
                    self.after_bytes(d, cx);
                }
                Phase::Pad => {
                    let n = (side.left as usize).min(rest.len());
                    side.left -= n as u32;
                    i += n;
                    self.after_bytes(d, cx);
                }
                Phase::Lost => return,
            }
        }
    }

    fn find(&self, id: u32) -> Option<usize> {
        self.streams.iter().position(|s| s.id == id)
    }

    /// Opens stream `id`: `None` past the cap (counted).
    fn open(
        &mut self,
        id: u32,
        ts: Timestamp,
        flags: Flags,
        cx: &mut H2Ctx<'_, '_>,
    ) -> Option<usize> {
        if self.streams.len() >= cx.http.limits.max_h2_streams.max(1) {
            cx.counters.h2_streams_over_cap += 1;
            return None;
        }
        let (client, server) = (
            self.addrs[self.client.index()],
            self.addrs[self.client.other().index()],
        );
        self.streams.push(Stream {
            id,
            ex: Exchange {
                ts,
                client: Some(client),
                server: Some(server),
                version: Version::HTTP2,
                stream_id: id,
                flags,
                ..Exchange::default()
            },
            started: false,
            final_seen: false,
            pushed: false,
            ext_connect: false,
            early_data: false,
        });
        Some(self.streams.len() - 1)
    }

    /// Adds a frame's wire bytes to stream `sid`, if tracked.
    fn charge(&mut self, d: usize, sid: u32, bytes: u64) {
        let to_server = d == self.client.index();
        if let Some(i) = self.find(sid) {
            let s = &mut self.streams[i];
            let b = if to_server && !s.pushed {
                &mut s.ex.request_bytes
            } else if !to_server && s.pushed && !s.started {
                // A pushed stream's promise is its request.
                &mut s.ex.request_bytes
            } else {
                &mut s.ex.response_bytes
            };
            *b = b.saturating_add(bytes);
        }
    }

    fn on_head(&mut self, d: usize, cx: &mut H2Ctx<'_, '_>) {
        let side = &mut self.sides[d];
        let h = side.head;
        let len = u32::from_be_bytes([0, h[0], h[1], h[2]]);
        let (ty, flags, sid) = (h[3], h[4], be32(&h[5..9]) & 0x7fff_ffff);
        cx.counters.h2_frames += 1;
        self.ws_frame[d] = false;
        (
            side.ty, side.flags, side.sid, side.left, side.pad, side.skip,
        ) = (ty, flags, sid, len, 0, false);
        side.small_have = 0;
        let padded = u8::from(flags & PADDED != 0);
        let need: u32 = match ty {
            DATA => u32::from(padded),
            HEADERS => u32::from(padded) + if flags & PRIO != 0 { 5 } else { 0 },
            PUSH_PROMISE => u32::from(padded) + 4,
            RST_STREAM => 4,
            GOAWAY => 8,
            SETTINGS if flags & ACK == 0 && len >= 6 => 6,
            PRIORITY | SETTINGS | PING | WINDOW_UPDATE | CONTINUATION => 0,
            _ => {
                cx.counters.h2_unknown_frames += 1;
                0
            }
        };
        if side.blk.active && ty != CONTINUATION {
            // RFC 9113 6.10: nothing may come between a block's frames.
            cx.counters.h2_bad_frames += 1;
            self.drop_block(d);
            self.sides[d].blk.active = false;
        }
        let side = &mut self.sides[d];
        if need > len || (ty == CONTINUATION && (!side.blk.active || side.blk.frame_sid != sid)) {
            cx.counters.h2_bad_frames += 1;
            side.skip = true;
            side.phase = Phase::Body;
            return self.after_bytes(d, cx);
        }
        match ty {
            HEADERS => self.headers_frame(d, sid, flags, len, cx),
            CONTINUATION => {
                let side = &mut self.sides[d];
                side.blk.continuations += 1;
                let (bsid, over) = (
                    side.blk.sid,
                    side.blk.continuations as usize > cx.http.limits.max_continuations,
                );
                if over && !side.blk.dropped {
                    cx.counters.h2_continuation_floods += 1;
                    self.drop_block(d);
                }
                self.charge(d, bsid, 9 + u64::from(len));
            }
            DATA => {
                self.charge(d, sid, 9 + u64::from(len));
                self.ws_data_frame(d, sid);
            }
            _ => {}
        }
        let side = &mut self.sides[d];
        side.small_need = need.min(8) as u8;
        side.phase = if need > 0 { Phase::Prefix } else { Phase::Body };
        self.after_bytes(d, cx);
    }

    /// A HEADERS frame header: the stream it opens or continues, and the block it starts.
    fn headers_frame(&mut self, d: usize, sid: u32, flags: u8, len: u32, cx: &mut H2Ctx<'_, '_>) {
        let from_client = d == self.client.index();
        let ts = self.sides[d].frame_ts;
        if self.find(sid).is_none() && sid != 0 {
            let initiator = if sid % 2 == 1 {
                self.client.index()
            } else {
                1 - self.client.index()
            };
            if self.mid && d != initiator {
                // Picked up mid-stream: a response on a stream opened before the first
                // one seen from its initiator began before the capture (its request
                // was not seen).
                if self.mid_first[initiator].is_none_or(|f| sid < f) {
                    self.open(sid, ts, Flags::NO_REQUEST, cx);
                }
            } else if sid > self.opened[initiator] {
                if self.mid {
                    self.mid_first[initiator].get_or_insert(sid);
                }
                self.opened[initiator] = sid;
                let flags = if from_client {
                    Flags::empty()
                } else {
                    Flags::NO_REQUEST
                };
                self.open(sid, ts, flags, cx);
            }
        }
        if let (false, Some(i)) = (from_client, self.find(sid)) {
            let s = &mut self.streams[i];
            if !s.final_seen && s.ex.latency_ns.is_none() && !s.ex.flags.contains(Flags::NO_REQUEST)
            {
                // Set here, replaced if this block turns out to be a 1xx.
                s.ex.latency_ns = Some(ts.since(s.ex.ts));
            }
        }
        self.charge(d, sid, 9 + u64::from(len));
        let side = &mut self.sides[d];
        side.blk = BlockState {
            active: true,
            sid,
            frame_sid: sid,
            end_stream: flags & END_STREAM != 0,
            ..BlockState::default()
        };
        side.block.clear();
    }

    fn on_prefix(&mut self, d: usize, cx: &mut H2Ctx<'_, '_>) {
        let side = &mut self.sides[d];
        let (ty, flags, sid, small) = (side.ty, side.flags, side.sid, side.small);
        match ty {
            DATA | HEADERS | PUSH_PROMISE => {
                if flags & PADDED != 0 {
                    let pad = u32::from(small[0]);
                    if pad > side.left {
                        cx.counters.h2_bad_frames += 1;
                        side.skip = true;
                        if ty != DATA {
                            self.drop_block(d);
                            self.sides[d].blk.active = false;
                        }
                    } else {
                        side.pad = pad;
                    }
                }
                if ty == PUSH_PROMISE && !self.sides[d].skip {
                    let off = usize::from(flags & PADDED != 0);
                    let promised = be32(&small[off..off + 4]) & 0x7fff_ffff;
                    self.push_promise(d, sid, promised, cx);
                }
            }
            RST_STREAM => {
                cx.counters.h2_resets += 1;
                let code = be32(&small[..4]);
                if let Some(i) = self.find(sid) {
                    let s = &mut self.streams[i];
                    s.ex.flags.insert(Flags::RESET);
                    s.ex.reset_code = Some(code);
                    self.finish(i, cx);
                }
                let ts = self.sides[d].frame_ts;
                let st = &mut cx.http.counters.strings_truncated;
                self.ws.reset(sid, ts, cx.http.out, st);
            }
            GOAWAY => {
                cx.counters.h2_goaways += 1;
                let last = be32(&small[..4]) & 0x7fff_ffff;
                let g = &mut self.goaway[d];
                *g = Some(g.map_or(last, |x| x.min(last)));
            }
            SETTINGS => {
                let (id, v) = (u16::from_be_bytes([small[0], small[1]]), be32(&small[2..6]));
                if id == 1 {
                    // HEADER_TABLE_SIZE: what the other side's encoder may use.
                    self.sides[1 - d].hpack.set_allowed(v);
                }
                if id == ENABLE_CONNECT_PROTOCOL && d != self.client.index() {
                    self.connect_protocol = v == 1;
                }
                let side = &mut self.sides[d];
                if side.left >= 6 {
                    side.small_have = 0;
                    return;
                }
            }
            _ => {}
        }
        let side = &mut self.sides[d];
        if side.skip {
            side.pad = 0;
        }
        side.phase = Phase::Body;
        self.after_bytes(d, cx);
    }

    fn push_promise(&mut self, d: usize, sid: u32, promised: u32, cx: &mut H2Ctx<'_, '_>) {
        cx.counters.h2_pushes += 1;
        let ts = self.sides[d].frame_ts;
        let len = u64::from(9 + self.sides[d].left + self.sides[d].small_need as u32);
        let server = 1 - self.client.index();
        let mut tracked = false;
        if d == server && promised > self.opened[server] && self.find(promised).is_none() {
            self.opened[server] = promised;
            if let Some(i) = self.open(promised, ts, Flags::empty(), cx) {
                self.streams[i].pushed = true;
                tracked = true;
            }
        }
        if tracked {
            self.charge(d, promised, len);
        }
        let side = &mut self.sides[d];
        side.blk = BlockState {
            active: true,
            sid: promised,
            frame_sid: sid,
            push: true,
            ..BlockState::default()
        };
        side.block.clear();
    }

    /// The current frame's bytes may be all read: the frame ends.
    fn after_bytes(&mut self, d: usize, cx: &mut H2Ctx<'_, '_>) {
        let side = &mut self.sides[d];
        match side.phase {
            Phase::Body if side.left == side.pad => {
                side.phase = Phase::Pad;
            }
            _ => {}
        }
        if side.phase == Phase::Pad && side.left == 0 {
            side.phase = Phase::Head;
            self.end_frame(d, cx);
        }
    }

    fn end_frame(&mut self, d: usize, cx: &mut H2Ctx<'_, '_>) {
        let side = &mut self.sides[d];
        let (ty, flags, sid, skip) = (side.ty, side.flags, side.sid, side.skip);
        if skip {
            return;
        }
        match ty {
            HEADERS | PUSH_PROMISE | CONTINUATION
                if flags & END_HEADERS != 0 && side.blk.active =>
            {
                self.end_block(d, cx);
            }
            DATA if flags & END_STREAM != 0 => self.end_stream(d, sid, cx),
            _ => {}
        }
    }

    /// Abandons the block being assembled: its stream is MALFORMED and TRUNCATED; the
    /// decoder misses its table updates (later references to them count as unknown).
    fn drop_block(&mut self, d: usize) {
        let side = &mut self.sides[d];
        side.blk.dropped = true;
        side.block = Vec::new();
        let sid = side.blk.sid;
        if let Some(i) = self.find(sid) {
            self.streams[i]
                .ex
                .flags
                .insert(Flags::MALFORMED | Flags::TRUNCATED);
        }
    }

    fn end_block(&mut self, d: usize, cx: &mut H2Ctx<'_, '_>) {
        let blk = self.sides[d].blk;
        self.sides[d].blk.active = false;
        let from_client = d == self.client.index();
        let idx = self.find(blk.sid);
        if !blk.dropped {
            let kind = match idx.map(|i| &self.streams[i]) {
                _ if blk.push => Kind::Request,
                Some(s) if from_client && s.started => Kind::RequestTrailers,
                _ if from_client => Kind::Request,
                Some(s) if s.final_seen => Kind::Trailers,
                _ => Kind::Response,
            };
            let budget = cx.http.limits.max_header_list_bytes;
            let cap = cx.http.limits.max_hpack_table;
            let max = cx.http.limits.max_string_len;
            let H2Conn { sides, streams, .. } = self;
            let side = &mut sides[d];
            let mut dummy = Exchange::default();
            let ex = match idx {
                Some(i) => &mut streams[i].ex,
                None => &mut dummy,
            };
            let mut status: Option<u16> = None;
            let mut ws_protocol = false;
            let mut truncated = 0u64;
            let mut cut = |v: &[u8]| {
                let w = WireStr::capped(v, max);
                truncated += u64::from(w.truncated);
                w
            };
            let r = side
                .hpack
                .decode(&side.block, budget, cap, &mut |n, v| match (kind, n) {
                    (Kind::Request, b":method") => ex.method = cut(v),
                    (Kind::Request, b":authority") => ex.host = cut(v),
                    (Kind::Request, b"host") if ex.host.is_empty() => ex.host = cut(v),
                    (Kind::Request, b":path") => ex.path = cut(v),
                    (Kind::Request, b":protocol") => {
                        ws_protocol = v.eq_ignore_ascii_case(b"websocket")
                    }
                    (Kind::Request, b"user-agent") => ex.user_agent = cut(v),
                    (Kind::Request, b"content-type") if v.starts_with(b"application/grpc") => {
                        ex.flags.insert(Flags::GRPC)
                    }
                    (Kind::Response, b":status") => {
                        status = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok())
                    }
                    (Kind::Response | Kind::Trailers, b"grpc-status") => {
                        ex.grpc_status = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok())
                    }
                    (Kind::Response | Kind::Trailers, b"grpc-message") => ex.grpc_message = cut(v),
                    _ => {}
                });
            cx.http.counters.strings_truncated += truncated;
            if side.block.capacity() > 16 << 10 {
                side.block = Vec::new();
            }
            side.hpack.shrink();
            if r.error.is_some() {
                cx.counters.h2_hpack_errors += 1;
                ex.flags.insert(Flags::MALFORMED);
            }
            if r.unknown > 0 {
                cx.counters.h2_hpack_unknown_refs += 1;
                ex.flags.insert(Flags::TRUNCATED);
            }
            if r.over_budget {
                cx.counters.h2_header_lists_over_budget += 1;
                ex.flags.insert(Flags::TRUNCATED);
            }
            if r.capped {
                cx.counters.h2_table_size_capped += 1;
            }
            if kind == Kind::Response {
                cx.counters.h2_responses += 1;
            }
            if let Some(i) = idx {
                let s = &mut streams[i];
                match kind {
                    Kind::Response => match status {
                        Some(100..=199) => {
                            s.ex.interim_responses = s.ex.interim_responses.saturating_add(1);
                            s.ex.latency_ns = None;
                        }
                        st => {
                            s.ex.status = st;
                            s.final_seen = true;
                            if s.ext_connect && st.is_some_and(|c| (200..300).contains(&c)) {
                                self.ws_open(i, cx);
                            }
                        }
                    },
                    Kind::Trailers => s.ex.flags.insert(Flags::TRAILERS),
                    Kind::Request => {
                        s.ext_connect =
                            ws_protocol && !s.pushed && s.ex.method.as_bytes() == b"CONNECT";
                        self.ext_seen |= s.ext_connect;
                    }
                    _ => {}
                }
            }
        }
        if let Some(i) = idx {
            let s = &mut self.streams[i];
            if (blk.push || from_client) && !s.started && !s.ex.flags.contains(Flags::NO_REQUEST) {
                s.started = true;
                request_started(s, cx);
            }
        }
        if blk.end_stream {
            self.end_stream(d, blk.sid, cx);
        }
    }

    /// END_STREAM from `d` on `sid`: the exchange ends with the response, a WebSocket
    /// session when both sides have ended.
    fn end_stream(&mut self, d: usize, sid: u32, cx: &mut H2Ctx<'_, '_>) {
        if d != self.client.index() {
            if let Some(i) = self.find(sid) {
                self.finish(i, cx);
            }
        }
        let ts = self.sides[d].frame_ts;
        let st = &mut cx.http.counters.strings_truncated;
        let is_client = d == self.client.index();
        self.ws.end(sid, is_client, ts, cx.http.out, st);
    }

    /// Emits stream `i`'s exchange and forgets the stream.
    fn finish(&mut self, i: usize, cx: &mut H2Ctx<'_, '_>) {
        let mut s = self.streams.swap_remove(i);
        if !s.final_seen {
            s.ex.flags.insert(Flags::NO_RESPONSE);
            s.ex.latency_ns = None;
        }
        // A GOAWAY from the side that did not open the stream, naming a lower last id.
        let opener = if s.id % 2 == 1 {
            self.client.index()
        } else {
            1 - self.client.index()
        };
        if self.goaway[1 - opener].is_some_and(|g| s.id > g) {
            s.ex.flags.insert(Flags::GOAWAY);
        }
        if !s.started && !s.ex.flags.contains(Flags::NO_REQUEST) {
            request_started(&mut s, cx);
        }
        if s.ex.flags.contains(Flags::GRPC) {
            if !self.grpc {
                self.grpc = true;
                cx.protocols.get_mut(Protocol::Grpc).connections += 1;
            }
            let row = cx.protocols.get_mut(Protocol::Grpc);
            row.add_bytes(true, s.ex.request_bytes);
            row.add_bytes(false, s.ex.response_bytes);
        }
        cx.http.out.push(Event::Exchange(s.ex));
        if self.streams.capacity() > 64 && self.streams.len() < self.streams.capacity() / 4 {
            self.streams.shrink_to(self.streams.len() * 2);
        }
    }

    /// The connection is gone: every open stream is emitted (NO_RESPONSE when no final
    /// response was seen, and GOAWAY when a GOAWAY came before; TRUNCATED when the
    /// response had begun).
    pub fn close(&mut self, ts: Timestamp, cx: &mut H2Ctx<'_, '_>) {
        // In stream id order: the last is the lowest.
        self.streams.sort_by_key(|s| std::cmp::Reverse(s.id));
        let any_goaway = self.goaway.iter().any(Option::is_some);
        while let Some(last) = self.streams.len().checked_sub(1) {
            let s = &mut self.streams[last];
            if s.final_seen {
                // The response was cut before its end.
                s.ex.flags.insert(Flags::TRUNCATED);
            } else if any_goaway {
                s.ex.flags.insert(Flags::GOAWAY);
            }
            self.finish(last, cx);
        }
        let st = &mut cx.http.counters.strings_truncated;
        self.ws.close(ts, cx.http.out, st);
    }

    /// A DATA frame header of `d` on `sid`: whether its payload goes to a WebSocket
    /// session (client DATA on an extended CONNECT not yet answered is remembered: that
    /// direction of the session will start with a gap).
    fn ws_data_frame(&mut self, d: usize, sid: u32) {
        let is_client = d == self.client.index();
        self.ws_frame[d] = self.ws.reads(sid, is_client);
        if is_client && !self.ws_frame[d] && self.ext_seen {
            if let Some(i) = self.find(sid) {
                let s = &mut self.streams[i];
                s.early_data |= s.ext_connect && !s.final_seen;
            }
        }
    }

    /// Stream `i`, an extended CONNECT, was answered 2xx: a WebSocket session starts
    /// (counted in the `websocket` row's connections; its bytes stay under http/2).
    fn ws_open(&mut self, i: usize, cx: &mut H2Ctx<'_, '_>) {
        let s = &self.streams[i];
        let head = WebSocketSession {
            ts: s.ex.ts,
            client: s.ex.client,
            server: s.ex.server,
            original_client: s.ex.original_client,
            host: s.ex.host.clone(),
            path: s.ex.path.clone(),
            version: Version::HTTP2,
            stream_id: s.id,
            ..WebSocketSession::default()
        };
        let (id, early) = (s.id, s.early_data);
        let limits = cx.http.limits;
        let opened = self.ws.open(
            head,
            self.connect_protocol,
            limits.max_h2_websockets,
            limits.max_string_len,
            cx.websocket,
        );
        if opened {
            cx.protocols.get_mut(Protocol::WebSocket).connections += 1;
            if early {
                self.ws.gap(id, true, 1, cx.websocket);
            }
        }
    }
}

/// One request counted: under http/2, and also under grpc for a call.
fn request_started(s: &mut Stream, cx: &mut H2Ctx<'_, '_>) {
    s.started = true;
    cx.counters.h2_requests += 1;
    if s.ex.flags.contains(Flags::GRPC) {
        cx.protocols.get_mut(Protocol::Grpc).requests += 1;
    }
    cx.http.out.push(Event::RequestStarted {
        protocol: Protocol::Http2,
        ts: cx.http.now,
    });
}
