//! The httptop engine: frames in, HTTP exchanges out. Sans-IO: it never reads a clock,
//! socket, file or terminal; time is an argument (packet time).

pub mod alert;
mod analyzer;
mod budget;
pub mod closed;
pub mod counters;
mod engine;
pub mod event;
pub mod flow;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
mod http2;
pub mod ipfrag;
pub mod limits;
mod monitor;
pub mod plain;
mod preface;
pub mod protocol;
pub mod reasm;
pub mod shard;
pub mod snapshot;
pub mod stats;
pub mod stream;
pub mod tls;
pub mod websocket;

pub use engine::{Counters, Engine};
pub use event::{
    Event, Exchange, Flags, OriginalClient, Process, Sink, Version, WebSocketSession, WireStr,
};
pub use http2::Http2Counters;
pub use limits::Limits;
pub use monitor::{Monitor, MonitorConfig, Observer};
pub use preface::PrefaceCounters;
pub use protocol::{Protocol, ProtocolCounts, ProtocolTable};
pub use tls::{TlsCert, TlsSession};
pub use websocket::WebSocketCounters;
