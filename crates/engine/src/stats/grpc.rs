//! gRPC calls per `(service, method)`, and the WebSocket summary.
//!
//! A gRPC row (`GrpcData`) counts calls at count resolution, failed calls (`grpc-status`
//! other than 0), bytes and status codes at the attached resolution, and keeps a latency
//! histogram like a server's (at the latency resolution): about 60 KiB per row, hence the
//! small cap `StatsConfig::max_grpc_keys` (32, Space-Saving like every other table).

use super::hist::BINS;
use super::metrics::{HostData, HostHit, LatData};
use super::ring::{Past, KA, KL, RA, RL, WINDOWS};
use super::table::Payload;
use crate::event::WebSocketSession;

const R: usize = WINDOWS - 1;
const MA: usize = KA - 1;

/// gRPC status codes counted one by one (0 ..= 16); others share one more slot.
pub const GRPC_CODE_SLOTS: usize = 18;

/// The name of a gRPC status code (`0` -> `OK`), `None` for a code gRPC does not define.
pub const fn grpc_code_name(code: u32) -> Option<&'static str> {
    Some(match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => return None,
    })
}

/// A gRPC status as shown: its name, or its number for a code gRPC does not define
/// (`other` for the shared slot of the table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GrpcCode {
    Known(u32),
    /// A code above 16 (the table does not tell them apart).
    Other,
}

impl GrpcCode {
    /// `OK`, `NOT_FOUND`, .., `other`.
    pub fn name(self) -> &'static str {
        match self {
            GrpcCode::Known(c) => grpc_code_name(c).unwrap_or("other"),
            GrpcCode::Other => "other",
        }
    }

    pub(crate) fn slot(code: u32) -> usize {
        (code as usize).min(GRPC_CODE_SLOTS - 1)
    }

    pub(crate) fn of_slot(slot: usize) -> GrpcCode {
        if slot + 1 < GRPC_CODE_SLOTS {
            GrpcCode::Known(slot as u32)
        } else {
            GrpcCode::Other
        }
    }
}

/// One `service/method` key.
#[derive(Clone, Debug)]
pub(crate) struct GrpcData {
    /// Calls (count resolution); failed calls and bytes (attached resolution).
    pub calls: HostData,
    pub cur_codes: [[u32; WINDOWS]; GRPC_CODE_SLOTS],
    pub codes: [[Past<u32, MA>; WINDOWS]; GRPC_CODE_SLOTS],
    /// Latency histograms at the latency resolution (bucket `b / RL`).
    pub lat: LatData,
}

/// What one call adds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GrpcHit {
    pub calls: HostHit,
    /// `grpc-status` slot, when the call had one.
    pub code: Option<usize>,
    /// Latency bin, when the call had a response.
    pub bin: Option<usize>,
}

impl GrpcData {
    #[inline]
    pub fn add(&mut self, w: usize, head: u32, b: u32, x: GrpcHit) {
        self.calls.add(w, head, b, x.calls);
        if let Some(i) = x.code {
            if let (Some(cur), Some(past)) = (self.cur_codes.get_mut(i), self.codes.get_mut(i)) {
                past[w].add(&mut cur[w], head / RA, b / RA, 1, w == R);
            }
        }
        if let Some(bin) = x.bin {
            let (hl, bl) = (head / RL, b / RL);
            if bl + KL as u32 > hl {
                self.lat.add(w, bl, bin.min(BINS - 1));
            }
        }
    }

    /// Calls of each status slot in the attached window ending at count bucket `c`.
    pub fn codes(&self, w: usize, head: u32, c: u32) -> [u32; GRPC_CODE_SLOTS] {
        let (ha, ca) = (head / RA, c / RA);
        std::array::from_fn(|i| self.codes[i][w].sum(self.cur_codes[i][w], ha, ca, 0))
    }
}

impl Payload for GrpcData {
    const N: u32 = <HostData as Payload>::N;
    fn new() -> Self {
        GrpcData {
            calls: HostData::default(),
            cur_codes: [[0; WINDOWS]; GRPC_CODE_SLOTS],
            codes: Default::default(),
            lat: LatData::new(),
        }
    }
    fn reset(&mut self) {
        self.calls = HostData::default();
        self.cur_codes = [[0; WINDOWS]; GRPC_CODE_SLOTS];
        self.codes = Default::default();
        self.lat.reset();
    }
    #[inline]
    fn roll(&mut self, w: usize, old: u32, new: u32) {
        self.calls.roll(w, old, new);
        let (oa, na) = (old / RA, new / RA);
        if na > oa {
            for (past, cur) in self.codes.iter_mut().zip(self.cur_codes.iter_mut()) {
                past[w].roll(&mut cur[w], oa, na);
            }
        }
        let (ol, nl) = (old / RL, new / RL);
        if nl > ol {
            self.lat.roll(w, ol, nl);
        }
    }
    fn primary(&self, w: usize, head: u32, cur: u32) -> u32 {
        self.calls.primary(w, head, cur)
    }
}

/// Distinct close codes the WebSocket summary keeps (others are summed in
/// [`WebSocketSummary::other_close_codes`]).
pub const MAX_CLOSE_CODES: usize = 16;

/// WebSocket sessions that ended since the start (not windowed: sessions are few and
/// long).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebSocketSummary {
    pub sessions: u64,
    pub messages_to_server: u64,
    pub messages_to_client: u64,
    pub payload_to_server: u64,
    pub payload_to_client: u64,
    /// Sessions that ended without a Close frame (flag `truncated`).
    pub without_close: u64,
    /// `(close code, sessions)` of the first [`MAX_CLOSE_CODES`] distinct codes seen, by
    /// code.
    pub close_codes: Vec<(u16, u64)>,
    /// Sessions whose close code was not one of those kept.
    pub other_close_codes: u64,
}

impl WebSocketSummary {
    pub fn add(&mut self, ws: &WebSocketSession) {
        self.sessions += 1;
        let add = |a: &mut u64, b: u64| *a = a.saturating_add(b);
        add(&mut self.messages_to_server, ws.messages_to_server);
        add(&mut self.messages_to_client, ws.messages_to_client);
        add(&mut self.payload_to_server, ws.payload_to_server);
        add(&mut self.payload_to_client, ws.payload_to_client);
        if ws.flags.contains(crate::event::Flags::TRUNCATED) && ws.close_code.is_none() {
            self.without_close += 1;
        }
        let Some(code) = ws.close_code else { return };
        match self.close_codes.binary_search_by_key(&code, |&(c, _)| c) {
            Ok(i) => self.close_codes[i].1 += 1,
            Err(i) if self.close_codes.len() < MAX_CLOSE_CODES => {
                self.close_codes.insert(i, (code, 1))
            }
            Err(_) => self.other_close_codes += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_and_slots() {
        assert_eq!(GrpcCode::Known(0).name(), "OK");
        assert_eq!(GrpcCode::Known(5).name(), "NOT_FOUND");
        assert_eq!(GrpcCode::Known(16).name(), "UNAUTHENTICATED");
        assert_eq!(GrpcCode::of_slot(GrpcCode::slot(14)), GrpcCode::Known(14));
        assert_eq!(GrpcCode::of_slot(GrpcCode::slot(17)), GrpcCode::Other);
        assert_eq!(GrpcCode::of_slot(GrpcCode::slot(u32::MAX)), GrpcCode::Other);
        assert_eq!(grpc_code_name(17), None);
    }

    #[test]
    fn websocket_summary_caps_close_codes() {
        let mut s = WebSocketSummary::default();
        for code in (1000..1040).chain([1000, 1000]) {
            s.add(&WebSocketSession {
                close_code: Some(code),
                messages_to_server: 2,
                messages_to_client: 3,
                ..WebSocketSession::default()
            });
        }
        s.add(&WebSocketSession {
            flags: crate::event::Flags::TRUNCATED,
            ..WebSocketSession::default()
        });
        assert_eq!(s.sessions, 43);
        assert_eq!(s.messages_to_client, 126);
        assert_eq!(s.close_codes.len(), MAX_CLOSE_CODES);
        assert_eq!(s.close_codes[0], (1000, 3));
        assert_eq!(s.other_close_codes, 40 - MAX_CLOSE_CODES as u64);
        assert_eq!(s.without_close, 1);
    }
}
