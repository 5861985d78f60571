//! The `/metrics` endpoint: a `tiny_http` server answered by one thread of ours.
//!
//! Contract: [`MetricsServer::bind`] binds the listener at once (at start-up, before any
//! privilege is dropped) and returns its error; [`MetricsServer::start`] starts serving
//! (after the drop: no thread exists before it). One thread answers requests one at a
//! time: `GET`/`HEAD /metrics` renders the latest published state (the capture thread
//! publishes at most once per second, so a scrape never waits for it), `/` says where the
//! metrics are, any other path is 404 and any other method 405. `tiny_http` reads
//! requests on its own small pool of connection threads. Dropping the server unblocks
//! and joins the thread.

use crate::alertmanager::ClientStats;
use crate::metrics::{render, Health, Totals};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// What the capture thread publishes and the server renders.
#[derive(Default)]
pub struct Published {
    pub totals: Totals,
    pub health: Health,
}

/// State shared between the capture thread and the server thread.
#[derive(Default)]
pub struct Shared {
    pub state: Mutex<Published>,
    pub alertmanager: Option<ClientStats>,
}

impl Shared {
    /// The exposition of the published state.
    pub fn exposition(&self) -> String {
        let am = self.alertmanager.as_ref().map(ClientStats::get);
        match self.state.lock() {
            Ok(p) => render(&p.totals, &p.health, am),
            Err(poisoned) => {
                let p = poisoned.into_inner();
                render(&p.totals, &p.health, am)
            }
        }
    }
}

/// Cannot serve metrics on the address asked for.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {reason}")]
pub struct BindError {
    pub addr: SocketAddr,
    pub reason: String,
}

pub struct MetricsServer {
    /// Bound, not served yet.
    listener: Option<std::net::TcpListener>,
    shared: Arc<Shared>,
    server: Option<Arc<tiny_http::Server>>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

impl MetricsServer {
    /// Binds the listening socket; no thread is started.
    pub fn bind(addr: SocketAddr, shared: Arc<Shared>) -> Result<Self, BindError> {
        let err = |e: std::io::Error| BindError {
            addr,
            reason: e.to_string(),
        };
        let listener = std::net::TcpListener::bind(addr).map_err(err)?;
        let bound = listener.local_addr().map_err(err)?;
        Ok(MetricsServer {
            listener: Some(listener),
            shared,
            server: None,
            addr: bound,
            thread: None,
        })
    }

    /// Starts serving on the bound socket (once; later calls do nothing).
    pub fn start(&mut self) -> Result<(), BindError> {
        let Some(listener) = self.listener.take() else {
            return Ok(());
        };
        let addr = self.addr;
        let err = |reason: String| BindError { addr, reason };
        let server = Arc::new(
            tiny_http::Server::from_listener(listener, None).map_err(|e| err(e.to_string()))?,
        );
        let (s, shared) = (Arc::clone(&server), Arc::clone(&self.shared));
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || serve(&s, &shared))
            .map_err(|e| err(e.to_string()))?;
        self.server = Some(server);
        self.thread = Some(thread);
        Ok(())
    }

    /// The bound address (the port chosen when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(s) = &self.server {
            s.unblock();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn header(name: &str, value: &str) -> Option<tiny_http::Header> {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

fn serve(server: &tiny_http::Server, shared: &Shared) {
    use tiny_http::{Method, Response};
    for rq in server.incoming_requests() {
        let path = rq.url().split('?').next().unwrap_or("");
        let method = rq.method().clone();
        let (status, body, ctype) = match (path, &method) {
            ("/metrics", Method::Get | Method::Head) => (200, shared.exposition(), CONTENT_TYPE),
            ("/", Method::Get | Method::Head) => (
                200,
                "httptop exporter: metrics at /metrics\n".to_string(),
                "text/plain; charset=utf-8",
            ),
            ("/metrics" | "/", _) => (405, "method not allowed\n".into(), "text/plain"),
            _ => (404, "not found\n".into(), "text/plain"),
        };
        let mut resp = Response::from_string(body).with_status_code(status);
        if let Some(h) = header("Content-Type", ctype) {
            resp = resp.with_header(h);
        }
        // A client that went away is not our problem.
        let _ = rq.respond(resp);
    }
}
