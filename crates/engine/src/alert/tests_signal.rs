//! Scripted-time tests of errors and latency alerting: each crossing at its exact second.

use super::*;

const S: u64 = NS_PER_SEC;
const MS: u64 = 1_000_000;

fn cfg(learn_s: u64, window_s: u64) -> AlertConfig {
    AlertConfig {
        learn_ns: learn_s * S,
        window_ns: window_s * S,
        min_responses: 20,
        ..AlertConfig::default()
    }
}

/// Feeds second `sec`: `n` responses (10 ms apart), the first `errors` of them failed,
/// the first `slow` of them taking `slow_ns` and the others 10 ms.
fn second(
    m: &mut SignalAlerting,
    sec: u64,
    n: u64,
    errors: u64,
    slow: u64,
    slow_ns: u64,
) -> Vec<SignalEvent> {
    let mut ev = Vec::new();
    for i in 0..n {
        let lat = if i < slow { slow_ns } else { 10 * MS };
        m.on_response(
            Timestamp(sec * S + i * 10 * MS),
            i < errors,
            Some(lat),
            &mut ev,
        );
    }
    ev
}

fn started_at(ev: &[SignalEvent]) -> Vec<(u64, u64)> {
    ev.iter()
        .filter_map(|e| match *e {
            SignalEvent::Started { at, value, .. } => Some((at.secs(), value)),
            _ => None,
        })
        .collect()
}

fn recovered_at(ev: &[SignalEvent]) -> Vec<(u64, u64, u64)> {
    ev.iter()
        .filter_map(|e| match *e {
            SignalEvent::Recovered {
                at,
                duration_ns,
                peak,
                ..
            } => Some((at.secs(), duration_ns / S, peak)),
            _ => None,
        })
        .collect()
}

#[test]
fn errors_learn_then_alert_and_recover_at_their_exact_seconds() {
    let mut m = SignalAlerting::new(AlertKind::Errors, cfg(10, 10), Timestamp::ZERO, None).unwrap();
    let mut all = Vec::new();
    // Learning [0, 10): 100 responses, 1 failed: baseline 1 %.
    for s in 0..10 {
        all.extend(second(&mut m, s, 10, u64::from(s == 5), 0, 0));
    }
    assert!(matches!(
        m.state(),
        SignalState::Learning { responses: 100, .. }
    ));
    // Second 15 has 2 errors: windows holding it see exactly 2 % = baseline × 2, not over.
    // Seconds 20..=24 have 3 errors each.
    for s in 10..40 {
        let e = match s {
            15 => 2,
            20..=24 => 3,
            _ => 0,
        };
        let ev = second(&mut m, s, 10, e, 0, 0);
        all.extend(ev);
    }
    let learned: Vec<_> = all
        .iter()
        .filter_map(|e| match *e {
            SignalEvent::Learned { baseline, at } => Some((baseline, at)),
            _ => None,
        })
        .collect();
    assert_eq!(
        learned,
        vec![(
            SignalBaseline::Errors {
                errors: 1,
                responses: NonZeroU64::new(100).unwrap()
            },
            Timestamp::from_secs(10)
        )]
    );
    // Boundary 21 sees [11, 21): 2 + 3 errors of 100 = 5 %.
    assert_eq!(started_at(&all), vec![(21, 500)]);
    // Boundary 34 sees [24, 34): 3 %; boundary 35 sees [25, 35): 0. Peak at 25: 2 + 15.
    assert_eq!(recovered_at(&all), vec![(35, 14, 1700)]);
    let h: Vec<_> = m.history().copied().collect();
    assert_eq!(h.len(), 1);
    assert_eq!(
        (h[0].start.secs(), h[0].end.map(|e| e.secs()), h[0].peak),
        (21, Some(35), 1700)
    );
    let msg = AlertEvent::Signal {
        kind: AlertKind::Errors,
        server: None,
        event: all
            .iter()
            .copied()
            .find(|e| matches!(e, SignalEvent::Started { .. }))
            .unwrap(),
    }
    .message();
    assert_eq!(
        msg,
        "High error rate generated an alert - 5xx = 5.0% (baseline 1.0%), triggered at 1970-01-01 00:00:21"
    );
    let msg = AlertEvent::Signal {
        kind: AlertKind::Errors,
        server: Some(ServerName::new(b"api.example")),
        event: all
            .iter()
            .copied()
            .find(|e| matches!(e, SignalEvent::Recovered { .. }))
            .unwrap(),
    }
    .message();
    assert_eq!(
        msg,
        "Recovered from high error rate on api.example at 1970-01-01 00:00:35 - alert lasted 14s, peak 17.0%"
    );
}

#[test]
fn errors_floor_keeps_a_clean_baseline_from_paging_on_the_first_5xx() {
    let mut m = SignalAlerting::new(AlertKind::Errors, cfg(10, 10), Timestamp::ZERO, None).unwrap();
    let mut all = Vec::new();
    for s in 0..10 {
        all.extend(second(&mut m, s, 10, 0, 0, 0));
    }
    // One 5xx at second 12 (1 % of the window: not over the 1 % floor), a second one at
    // second 14: boundary 15 sees 2 % and alerts.
    for s in 10..30 {
        let e = u64::from(s == 12 || s == 14);
        all.extend(second(&mut m, s, 10, e, 0, 0));
    }
    assert_eq!(started_at(&all), vec![(15, 200)]);
    // Boundary 23 sees [13, 23): one error, 1 %: recovered.
    assert_eq!(recovered_at(&all), vec![(23, 8, 200)]);
}

#[test]
fn nothing_is_evaluated_under_min_responses() {
    let mut m = SignalAlerting::new(AlertKind::Errors, cfg(10, 10), Timestamp::ZERO, None).unwrap();
    let mut all = Vec::new();
    for s in 0..10 {
        all.extend(second(&mut m, s, 10, 0, 0, 0));
    }
    // Silence, then 1 response a second, every one failed: 100 % of at most 10
    // responses, under 20.
    for s in 30..60 {
        all.extend(second(&mut m, s, 1, 1, 0, 0));
    }
    assert_eq!(started_at(&all), vec![]);
    assert_eq!(m.state(), SignalState::Normal { value: None });
    assert_eq!(m.responses_in_window(), 10);
}

#[test]
fn latency_learns_a_p95_and_alerts_when_it_doubles() {
    let mut m =
        SignalAlerting::new(AlertKind::Latency, cfg(10, 10), Timestamp::ZERO, None).unwrap();
    let mut all = Vec::new();
    for s in 0..10 {
        all.extend(second(&mut m, s, 10, 0, 0, 0));
    }
    m.advance(Timestamp::from_secs(10), &mut all);
    let base = m.baseline().expect("learned at 10 s").value();
    assert!(base.abs_diff(10 * MS) * 100 < 10 * MS * 8, "{base}");
    // Seconds 20..=24: every response takes 100 ms. Boundary 21 sees [11, 21): 10 slow of
    // 100, rank 95 is slow: p95 ≈ 100 ms, over twice 10 ms.
    for s in 10..40 {
        let slow = if (20..=24).contains(&s) { 10 } else { 0 };
        all.extend(second(&mut m, s, 10, 0, slow, 100 * MS));
    }
    let st = started_at(&all);
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].0, 21);
    assert!(st[0].1.abs_diff(100 * MS) * 100 < 100 * MS * 8, "{st:?}");
    // Boundary 34 sees second 24 (10 slow, over); 35 sees none.
    let rec = recovered_at(&all);
    assert_eq!((rec.len(), rec[0].0, rec[0].1), (1, 35, 14));
    // 5 slow of 100 is not enough (rank 95 is fast): nothing more.
    for s in 40..60 {
        all.extend(second(&mut m, s, 10, 0, u64::from(s % 2 == 0), 100 * MS));
    }
    assert_eq!(started_at(&all).len(), 1);
    let ev = all
        .iter()
        .copied()
        .find(|e| matches!(e, SignalEvent::Started { .. }))
        .unwrap();
    let msg = AlertEvent::Signal {
        kind: AlertKind::Latency,
        server: None,
        event: ev,
    }
    .message();
    assert!(
        msg.starts_with("High latency generated an alert - p95 = ")
            && msg.contains(" ms (baseline ")
            && msg.ends_with(" ms), triggered at 1970-01-01 00:00:21"),
        "{msg}"
    );
}

#[test]
fn an_alert_recovers_by_catch_up_when_packets_stop() {
    let mut m = SignalAlerting::new(AlertKind::Errors, cfg(10, 10), Timestamp::ZERO, None).unwrap();
    let mut all = Vec::new();
    for s in 0..10 {
        all.extend(second(&mut m, s, 10, 0, 0, 0));
    }
    for s in 10..25 {
        all.extend(second(&mut m, s, 10, if s >= 20 { 5 } else { 0 }, 0, 0));
    }
    assert_eq!(started_at(&all), vec![(21, 500)]);
    // Nothing after second 24. Boundary 33 sees [23, 33): 20 responses; 34 sees 10 < 20.
    let mut ev = Vec::new();
    m.advance(Timestamp::from_secs(1_000), &mut ev);
    assert_eq!(recovered_at(&ev), vec![(34, 13, 5000)]);
    assert_eq!(m.state(), SignalState::Normal { value: None });
    assert_eq!(m.next_evaluation(), Timestamp::from_secs(1_001));
}

#[test]
fn learning_restarts_without_responses_and_a_loaded_baseline_skips_it() {
    let mut m =
        SignalAlerting::new(AlertKind::Latency, cfg(10, 10), Timestamp::ZERO, None).unwrap();
    let mut ev = Vec::new();
    m.advance(Timestamp::from_secs(25), &mut ev);
    assert_eq!(
        ev,
        vec![SignalEvent::Restarted {
            at: Timestamp::from_secs(20),
            empty_periods: 2
        }]
    );
    let b = SignalBaseline::Errors {
        errors: 0,
        responses: NonZeroU64::new(50).unwrap(),
    };
    let mut m =
        SignalAlerting::new(AlertKind::Errors, cfg(10, 10), Timestamp::ZERO, Some(b)).unwrap();
    let mut all = Vec::new();
    for s in 0..10 {
        all.extend(second(&mut m, s, 10, 2, 0, 0));
    }
    // Boundary 1 sees second 0 only: 10 responses, under the minimum; boundary 2 sees
    // seconds 0 and 1: 20 %.
    assert_eq!(started_at(&all), vec![(2, 2000)]);
}

#[test]
fn per_server_alerts_see_one_failing_server_among_ten() {
    let c = AlertConfig {
        per_server: true,
        max_servers: 16,
        ..cfg(10, 10)
    };
    let mut set = SignalSet::new(c, Timestamp::ZERO, None, None);
    let names: Vec<ServerName> = (0..10)
        .map(|i| ServerName::new(format!("s{i}.example").as_bytes()))
        .collect();
    let mut ev = Vec::new();
    for s in 0..40u64 {
        for i in 0..10u64 {
            for (k, name) in names.iter().enumerate() {
                // s3 fails 1 response in 10 from second 20 on: 1 % of all traffic.
                let fail = k == 3 && s >= 20 && i == 0;
                let t = Timestamp(s * S + i * 10 * MS + k as u64 * MS);
                set.on_response(t, Some(name), fail, Some(10 * MS), &mut ev);
            }
        }
    }
    let alerts: Vec<_> = ev
        .iter()
        .filter(|e| e.is_alert_start())
        .map(|e| (e.kind(), e.server().map(|s| s.to_string()), e.at().secs()))
        .collect();
    // Boundary 21 sees 1 failure of 100 of s3: 1 %, not over the floor; 22 sees 2 %.
    assert_eq!(
        alerts,
        vec![(AlertKind::Errors, Some("s3.example".to_string()), 22)]
    );
    assert_eq!(set.servers(), 10);
    let views = set.views();
    assert_eq!(views.len(), 2 + 20);
    assert!(views
        .iter()
        .any(|v| v.server == Some(names[3]) && matches!(v.state, SignalState::Alert { .. })));
}

#[test]
fn per_server_watch_is_capped_and_counts_what_it_cannot_watch() {
    let c = AlertConfig {
        per_server: true,
        max_servers: 2,
        kinds: [false, true, false],
        ..cfg(10, 10)
    };
    let mut set = SignalSet::new(c, Timestamp::ZERO, None, None);
    let mut ev = Vec::new();
    for (i, name) in [b"a", b"b", b"c"].iter().enumerate() {
        set.on_response(
            Timestamp(i as u64 * MS),
            Some(&ServerName::new(*name)),
            false,
            None,
            &mut ev,
        );
    }
    assert_eq!(set.servers(), 2);
    assert_eq!(set.counters().servers_unwatched, 1);
    // 20 s later a and b hold nothing in their windows: c takes an idle slot.
    set.on_response(
        Timestamp(20 * S),
        Some(&ServerName::new(b"c")),
        false,
        None,
        &mut ev,
    );
    assert_eq!(set.counters().servers_replaced, 1);
    assert_eq!(set.views().len(), 1 + 2);
}

#[test]
fn baseline_files_hold_all_three_and_old_files_still_read() {
    let set = BaselineSet {
        rate: Some(Baseline::new(7, 120 * S).unwrap()),
        errors: Some(SignalBaseline::Errors {
            errors: 3,
            responses: NonZeroU64::new(500).unwrap(),
        }),
        latency: Some(SignalBaseline::Latency {
            p95_ns: 120 * MS,
            responses: NonZeroU64::new(500).unwrap(),
        }),
    };
    let text = set.to_text();
    assert!(text.starts_with("httptop-baseline v2\n"), "{text}");
    assert!(
        text.contains("# error rate 0.6%\n") && text.contains("# p95 120 ms\n"),
        "{text}"
    );
    assert_eq!(BaselineSet::from_bytes(text.as_bytes()), Ok(set));
    let v1 = Baseline::new(7, 120 * S).unwrap().to_text();
    assert_eq!(
        BaselineSet::from_bytes(v1.as_bytes()),
        Ok(BaselineSet {
            rate: Some(Baseline::new(7, 120 * S).unwrap()),
            ..BaselineSet::default()
        })
    );
    let partial = "httptop-baseline v2\nerrors=1\n";
    assert_eq!(
        BaselineSet::from_bytes(partial.as_bytes()),
        Err(BaselineError::MissingKey("error_responses"))
    );
    let zero = "httptop-baseline v2\nlatency_p95_ns=5\nlatency_responses=0\n";
    assert!(BaselineSet::from_bytes(zero.as_bytes()).is_err());
    assert_eq!(
        BaselineSet::from_bytes(b"httptop-baseline v2\nfoo=1\n"),
        Err(BaselineError::UnknownKey { line: 2 })
    );
}

#[test]
fn hostile_times_and_latencies_do_not_panic() {
    for kind in [AlertKind::Errors, AlertKind::Latency] {
        let mut m =
            SignalAlerting::new(kind, cfg(1, 3), Timestamp(u64::MAX - 10 * S), None).unwrap();
        let mut ev = Vec::new();
        for (t, lat) in [(0, 0), (u64::MAX, u64::MAX), (5, 1), (u64::MAX - 1, 7)] {
            m.on_response(Timestamp(t), t % 2 == 0, Some(lat), &mut ev);
            m.advance(Timestamp(t), &mut ev);
        }
        assert!(m.counters().late_requests > 0);
    }
}

#[test]
fn server_names_are_cut_and_escaped() {
    let n = ServerName::new(&[b'a'; 100]);
    assert_eq!(n.as_bytes().len(), ServerName::MAX);
    assert_eq!(ServerName::new(b"x\x1b[31m").to_string(), "x\\x1b[31m");
    let a: std::net::SocketAddr = "10.0.0.2:8080".parse().unwrap();
    assert_eq!(ServerName::display(a).as_bytes(), b"10.0.0.2:8080");
}
