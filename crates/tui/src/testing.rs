//! Snapshots built by hand for the tests.

use httptop_engine::alert::{AlertConfig, AlertState, Baseline, Episode, LearningProgress};
use httptop_engine::snapshot::{AlertView, Snapshot};
use httptop_engine::stats::{
    BytesRow, ClientRow, Floors, GrpcCode, GrpcRow, Report, Row, ServerRow, TlsCertRow,
    TlsCipherRow, TlsFailure, TlsFailureRow, TlsNameRow, TlsReport, TlsVersionRow,
    WebSocketSummary, Window,
};
use httptop_engine::{Counters, Protocol, ProtocolCounts, WireStr};
use httptop_wire::Timestamp;

pub const NS: u64 = 1_000_000_000;
/// 2024-03-01 12:00:00 UTC.
pub const T0: u64 = 1_709_294_400;

pub fn ws(s: &[u8]) -> WireStr {
    WireStr::capped(s, 200)
}

pub fn row(key: &[u8], count: u64, total: u64, ago_s: u64, now: u64) -> Row {
    Row {
        key: ws(key),
        count,
        error: 0,
        share: count as f64 / total.max(1) as f64,
        last_seen: Timestamp::from_secs(now - ago_s),
    }
}

pub fn report(w: Window, now: u64, hostile: bool) -> Report {
    let n = match w {
        Window::Min1 => 1,
        Window::Min10 => 10,
        Window::Hour1 => 60,
        Window::Retention => 120,
    };
    let total = 100 * n;
    let (host, ua, path): (&[u8], &[u8], &[u8]) = if hostile {
        (
            b"evil\x1b]0;pwned\x07.example\x1b[2J",
            b"curl\x1b[31m/8.0\r\n\x00\x08\x7f\x9b\xc2\x9b",
            "/adm\u{202e}in\x1b[H".as_bytes(),
        )
    } else {
        (b"api.example.com", b"curl/8.4.0", b"/api")
    };
    let t = Timestamp::from_secs;
    Report {
        window: w,
        start: t(now - 60 * n),
        bytes_start: t(now - 60 * n),
        latency_start: t(now - 60 * n),
        end: t(now),
        requests: total,
        responses: total - n,
        sections: vec![
            row(path, 60 * n, total, 1, now),
            row(b"/static", 30 * n, total, 3, now),
            row(b"/health", 10 * n, total, 42, now),
        ],
        hosts: vec![
            row(host, 70 * n, total, 1, now),
            row(b"www.example.com", 30 * n, total, 2, now),
        ],
        user_agents: vec![
            row(ua, 50 * n, total, 1, now),
            row(
                b"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
                45 * n,
                total,
                5,
                now,
            ),
            row(b"kube-probe/1.28", 5 * n, total, 10, now),
        ],
        methods: vec![
            row(b"GET", 90 * n, total, 1, now),
            row(b"POST", 10 * n, total, 7, now),
        ],
        status_codes: vec![
            row(b"200", 85 * n, total - n, 1, now),
            row(b"404", 9 * n, total - n, 4, now),
            row(b"503", 5 * n, total - n, 9, now),
        ],
        status_classes: vec![
            row(b"2xx", 85 * n, total - n, 1, now),
            row(b"4xx", 9 * n, total - n, 4, now),
            row(b"5xx", 5 * n, total - n, 9, now),
        ],
        bytes_by_host: vec![
            BytesRow {
                key: ws(host),
                is_address: false,
                count: 70 * n,
                error: 0,
                request_bytes: 35_000 * n,
                response_bytes: 9_500_000 * n,
                last_seen: t(now - 1),
            },
            BytesRow {
                key: ws(b"10.0.0.9:8080"),
                is_address: true,
                count: 30 * n,
                error: 2,
                request_bytes: 900 * n,
                response_bytes: 700 * n,
                last_seen: t(now - 2),
            },
        ],
        clients: vec![
            ClientRow {
                key: [192, 0, 2, 10].into(),
                count: 80 * n,
                error: 0,
                share: 0.8,
                bytes: 8_000_000 * n,
                last_seen: t(now - 1),
            },
            ClientRow {
                key: "2001:db8::1".parse().unwrap(),
                count: 20 * n,
                error: 0,
                share: 0.2,
                bytes: 1_000 * n,
                last_seen: t(now - 6),
            },
        ],
        servers: vec![
            ServerRow {
                key: ws(host),
                is_address: false,
                count: 70 * n,
                error: 0,
                share: 0.7,
                errors: 5 * n,
                error_rate: 5.0 / 70.0,
                latency_samples: 70 * n,
                p50_ns: Some(3_200_000),
                p95_ns: Some(48_000_000),
                p99_ns: Some(250_000_000),
                last_seen: t(now - 1),
            },
            ServerRow {
                key: ws(b"10.0.0.9:8080"),
                is_address: true,
                count: 30 * n,
                error: 0,
                share: 0.3,
                errors: 0,
                error_rate: 0.0,
                latency_samples: 0,
                p50_ns: None,
                p95_ns: None,
                p99_ns: None,
                last_seen: t(now - 2),
            },
        ],
        grpc: vec![
            GrpcRow {
                service: ws(b"helloworld.Greeter"),
                method: ws(b"SayHello"),
                count: 12 * n,
                error: 0,
                share: 0.12,
                errors: n,
                error_rate: 1.0 / 12.0,
                codes: vec![(GrpcCode::Known(0), 11 * n), (GrpcCode::Known(14), n)],
                latency_samples: 12 * n,
                p50_ns: Some(1_800_000),
                p95_ns: Some(9_000_000),
                p99_ns: Some(31_000_000),
                last_seen: t(now - 1),
            },
            GrpcRow {
                service: ws(if hostile { host } else { b"users.v1.Users" }),
                method: ws(b"Get"),
                count: 4 * n,
                error: 0,
                share: 0.04,
                errors: 3 * n,
                error_rate: 0.75,
                codes: vec![(GrpcCode::Known(5), 3 * n), (GrpcCode::Known(0), n)],
                latency_samples: 4 * n,
                p50_ns: Some(700_000),
                p95_ns: Some(1_100_000),
                p99_ns: Some(1_100_000),
                last_seen: t(now - 3),
            },
        ],
        tls: tls_report(n, now, hostile),
        processes: process_rows(n, now, hostile),
        floors: Floors::default(),
    }
}

/// The Processes table of TLS plaintext: nginx serving, curl and python3 calling it (a
/// hostile command name with `hostile`: a process names itself).
fn process_rows(n: u64, now: u64, hostile: bool) -> Vec<httptop_engine::stats::ProcessRow> {
    use httptop_engine::stats::{ProcessRole, ProcessRow};
    let row = |comm: &[u8], role, count: u64, errors: u64, p99: u64, seen: u64| ProcessRow {
        comm: ws(comm),
        role,
        count: count * n,
        error: 0,
        share: count as f64 / 100.0,
        responses: count * n,
        errors: errors * n,
        error_rate: errors as f64 / count as f64,
        request_bytes: 300 * count * n,
        response_bytes: 9_000 * count * n,
        latency_samples: count * n,
        p50_ns: Some(p99 / 4),
        p95_ns: Some(p99 / 2),
        p99_ns: Some(p99),
        last_seen: Timestamp::from_secs(now - seen),
    };
    vec![
        row(b"nginx", ProcessRole::Server, 30, 2, 48_000_000, 1),
        row(b"curl", ProcessRole::Client, 20, 2, 40_000_000, 1),
        row(
            if hostile {
                b"py\x1b[2J\x9bthon3"
            } else {
                b"python3"
            },
            ProcessRole::Client,
            10,
            0,
            12_000_000,
            3,
        ),
    ]
}

/// An SNI no terminal may see raw: ESC sequences, a bidi override, a C1 control, cut by
/// the engine at 64 bytes (so shown with `…`).
pub const HOSTILE_SNI: &[u8] =
    b"evil\x1b]0;pwned\x07.example\xe2\x80\xaeoc.dab\x1b[2J\xc2\x9b-and-a-very-long-tail-that-goes-on-and-on";

/// The TLS tables of one window, scaled by `n` minutes: three server names (one hostile
/// when `hostile`, one the no-SNI placeholder), TLS 1.3, 1.2 and a deprecated 1.0, three
/// ciphers, two JA4, two failure kinds, and three certificates (one expired).
pub fn tls_report(n: u64, now: u64, hostile: bool) -> TlsReport {
    let t = Timestamp::from_secs;
    let name =
        |key: WireStr, sni: bool, count: u64, failed: u64, bytes: u64, p95: u64| TlsNameRow {
            key,
            sni,
            count,
            error: 0,
            share: count as f64 / (60 * n) as f64,
            failed,
            bytes_to_server: bytes / 8,
            bytes_to_client: bytes - bytes / 8,
            latency_samples: count,
            p50_ns: Some(p95 / 3),
            p95_ns: Some(p95),
            p99_ns: Some(p95 * 2),
            last_seen: t(now - 1),
        };
    let api = if hostile {
        WireStr::capped(HOSTILE_SNI, 64)
    } else {
        ws(b"api.example.com")
    };
    let names = vec![
        name(api.clone(), true, 40 * n, n, 5_000_000 * n, 12_000_000),
        name(
            ws(b"legacy.example.net"),
            true,
            15 * n,
            0,
            300_000 * n,
            2_500_000,
        ),
        name(ws(b"(none)"), false, 5 * n, 2 * n, 20_000 * n, 900_000),
    ];
    let share = |c: u64| c as f64 / (60 * n) as f64;
    let cert = |subject: WireStr, sni: WireStr, days: i64| TlsCertRow {
        subject,
        issuer: ws(b"Example Issuing CA R3"),
        sni,
        not_after: now as i64 + days * 86_400 + 3_600,
        days_left: days,
        last_seen: t(now - 5),
    };
    TlsReport {
        connections: 60 * n,
        completed: 57 * n,
        failed: 3 * n,
        names_by_bytes: names.clone(),
        names,
        versions: vec![
            TlsVersionRow {
                version: 0x0304,
                name: "TLS 1.3".into(),
                deprecated: false,
                count: 40 * n,
                error: 0,
                share: share(40 * n),
            },
            TlsVersionRow {
                version: 0x0303,
                name: "TLS 1.2".into(),
                deprecated: false,
                count: 15 * n,
                error: 0,
                share: share(15 * n),
            },
            TlsVersionRow {
                version: 0x0301,
                name: "TLS 1.0".into(),
                deprecated: true,
                count: 5 * n,
                error: 0,
                share: share(5 * n),
            },
        ],
        ciphers: vec![
            TlsCipherRow {
                id: 0x1301,
                name: "TLS_AES_128_GCM_SHA256".into(),
                count: 40 * n,
                error: 0,
                share: share(40 * n),
            },
            TlsCipherRow {
                id: 0xc02f,
                name: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
                count: 15 * n,
                error: 0,
                share: share(15 * n),
            },
            TlsCipherRow {
                id: 0x002f,
                name: "TLS_RSA_WITH_AES_128_CBC_SHA".into(),
                count: 5 * n,
                error: 0,
                share: share(5 * n),
            },
        ],
        ja4: vec![
            row(
                b"t13d1516h2_8daaf6152771_e5627efa2ab1",
                40 * n,
                60 * n,
                1,
                now,
            ),
            row(
                b"t12d1209h1_d34a8e72043a_b39be8c56a14",
                20 * n,
                60 * n,
                2,
                now,
            ),
        ],
        failures: vec![
            TlsFailureRow {
                failure: TlsFailure::Alert {
                    description: 40,
                    from_client: false,
                },
                count: 2 * n,
                error: 0,
                share: share(2 * n),
            },
            TlsFailureRow {
                failure: TlsFailure::NoServerHello,
                count: n,
                error: 0,
                share: share(n),
            },
        ],
        expiring_certs: vec![
            cert(ws(b"old.example.org"), ws(b""), -3),
            cert(api, ws(b"api.example.com"), 6),
            cert(ws(b"legacy.example.net"), ws(b"legacy.example.net"), 27),
        ],
    }
}

pub fn empty_snapshot(now_s: u64) -> Snapshot {
    let now = Timestamp::from_secs(now_s);
    let empty = |w| Report {
        window: w,
        start: now,
        bytes_start: now,
        latency_start: now,
        end: now,
        requests: 0,
        responses: 0,
        sections: vec![],
        hosts: vec![],
        user_agents: vec![],
        methods: vec![],
        status_codes: vec![],
        status_classes: vec![],
        bytes_by_host: vec![],
        clients: vec![],
        servers: vec![],
        grpc: vec![],
        tls: Default::default(),
        processes: vec![],
        floors: Floors::default(),
    };
    Snapshot {
        now,
        alert: None,
        signals: Vec::new(),
        counters: Counters::default(),
        stats_counters: Default::default(),
        source_counters: Vec::new(),
        open_flows: 0,
        rate_per_second: vec![],
        reports: Window::ALL.map(empty),
        websocket: WebSocketSummary::default(),
    }
}

#[derive(Clone, Copy, Debug)]
pub enum State {
    Learning,
    Normal,
    Alert,
    Recovered,
}

/// A snapshot at T0 + 1 h in `state`, with traffic of about 1.67 req/s (baseline 200 per
/// 2 min) and, in alert, a burst over the last two minutes.
pub fn snapshot(state: State, hostile: bool) -> Snapshot {
    let now_s = T0 + 3600;
    let now = Timestamp::from_secs(now_s);
    let cfg = AlertConfig::default();
    let baseline = Baseline::new(200, 120 * NS).ok();
    let burst = matches!(state, State::Alert);
    let rate_per_second = (0..3600u64)
        .map(|i| {
            let s = now_s - 3599 + i;
            let back = now_s - s;
            let n = if burst && back < 120 {
                5
            } else if back % 7 == 0 {
                3
            } else {
                1 + back % 2
            };
            (Timestamp::from_secs(s), n)
        })
        .collect();
    let past = Episode {
        start: Timestamp::from_secs(T0 + 600),
        end: Some(Timestamp::from_secs(T0 + 780)),
        peak: 512,
    };
    let (st, baseline, history, hits) = match state {
        State::Learning => (
            AlertState::Learning(LearningProgress {
                started: Timestamp::from_secs(now_s - 45),
                ends: Timestamp::from_secs(now_s + 75),
                elapsed_ns: 45 * NS,
                remaining_ns: 75 * NS,
                requests: 80,
                hits: 80,
                window_ns: cfg.window_ns,
            }),
            None,
            vec![],
            80,
        ),
        State::Normal => (AlertState::Normal { hits: 190 }, baseline, vec![past], 190),
        State::Alert => (
            AlertState::Alert {
                since: Timestamp::from_secs(now_s - 60),
                hits: 600,
                peak: 640,
            },
            baseline,
            vec![
                past,
                Episode {
                    start: Timestamp::from_secs(now_s - 60),
                    end: None,
                    peak: 640,
                },
            ],
            600,
        ),
        State::Recovered => {
            let e = Episode {
                start: Timestamp::from_secs(now_s - 300),
                end: Some(now),
                peak: 700,
            };
            (
                AlertState::Recovered {
                    at: now,
                    duration_ns: 300 * NS,
                    peak: 700,
                    hits: 210,
                },
                baseline,
                vec![past, e],
                210,
            )
        }
    };
    let ended: Vec<u64> = history.iter().filter_map(|e| e.duration_ns()).collect();
    let mut counters = Counters::default();
    counters.frames = 123_456;
    counters.bytes = 98_765_432;
    counters.http.requests = 6000;
    counters.http.responses = 5990;
    counters.http.malformed_requests = 2;
    counters.http.gaps = 1;
    for (p, conns, reqs, up, down) in [
        (Protocol::Http1, 40, 5_000, 900_000, 9_000_000),
        (Protocol::Http2, 3, 1_000, 120_000, 800_000),
        (Protocol::Grpc, 2, 700, 70_000, 300_000),
        (Protocol::WebSocket, 3, 0, 4_100, 350_900),
        (Protocol::Unknown, 1, 0, 10, 20),
    ] {
        *counters.protocols.get_mut(p) = ProtocolCounts {
            connections: conns,
            requests: reqs,
            bytes_to_server: up,
            bytes_to_client: down,
        };
    }
    Snapshot {
        now,
        alert: Some(AlertView {
            state: st,
            baseline,
            config: cfg.clone(),
            hits_in_window: hits,
            next_evaluation: Timestamp::from_secs(now_s + 1),
            max_duration_ns: ended.iter().copied().max(),
            avg_duration_ns: (!ended.is_empty())
                .then(|| ended.iter().sum::<u64>() / ended.len() as u64),
            history,
        }),
        signals: Vec::new(),
        counters,
        stats_counters: Default::default(),
        source_counters: Vec::new(),
        open_flows: 17,
        rate_per_second,
        reports: Window::ALL.map(|w| report(w, now_s, hostile)),
        websocket: WebSocketSummary {
            sessions: 3,
            messages_to_server: 40,
            messages_to_client: 1_200,
            payload_to_server: 4_000,
            payload_to_client: 350_000,
            without_close: 1,
            close_codes: vec![(1000, 1), (1001, 1)],
            other_close_codes: 0,
        },
    }
}
