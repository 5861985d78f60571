//! Scripted-time tests: times are milliseconds (`t = 121_000` is 121 s after the epoch),
//! nothing sleeps.

use super::*;
use proptest::prelude::*;

const S: u64 = NS_PER_SEC;

fn ms(t: u64) -> Timestamp {
    Timestamp::from_millis(t)
}

fn secs(s: u64) -> Timestamp {
    Timestamp::from_secs(s)
}

fn cfg(learn_s: u64, window_s: u64, threshold_pct: u32) -> AlertConfig {
    AlertConfig {
        learn_ns: learn_s * S,
        window_ns: window_s * S,
        threshold_pct,
        ..AlertConfig::default()
    }
}

fn baseline(requests: u64, over_s: u64) -> Baseline {
    Baseline::new(requests, over_s * S).expect("valid baseline")
}

/// A machine and the events of the last call.
struct H {
    m: Alerting,
    ev: Vec<AlertEvent>,
}

impl H {
    fn learning(cfg: AlertConfig, start_ms: u64) -> H {
        H {
            m: Alerting::new(cfg, ms(start_ms), None).expect("valid config"),
            ev: Vec::new(),
        }
    }

    fn loaded(cfg: AlertConfig, start_ms: u64, b: Baseline) -> H {
        H {
            m: Alerting::new(cfg, ms(start_ms), Some(b)).expect("valid config"),
            ev: Vec::new(),
        }
    }

    fn feed(&mut self, t: Timestamp, n: u64) -> Vec<AlertEvent> {
        self.m.on_requests(t, n, &mut self.ev);
        std::mem::take(&mut self.ev)
    }

    fn tick(&mut self, t: Timestamp) -> Vec<AlertEvent> {
        self.m.advance(t, &mut self.ev);
        std::mem::take(&mut self.ev)
    }

    /// Ticks every whole second from `from_s` to `to_s` inclusive, returning every event.
    fn tick_each_second(&mut self, from_s: u64, to_s: u64) -> Vec<AlertEvent> {
        (from_s..=to_s).flat_map(|s| self.tick(secs(s))).collect()
    }
}

/// `feed!(h, t = 1_000, 5)`: 5 requests at t = 1 000 ms; evaluates to the events.
macro_rules! feed {
    ($h:expr, t = $t:expr, $n:expr) => {
        $h.feed(ms($t), $n)
    };
}

/// `tick!(h, t = 121_000)`: time reaches 121 s; evaluates to the events.
macro_rules! tick {
    ($h:expr, t = $t:expr) => {
        $h.tick(ms($t))
    };
}

fn started(hits: u64, at_s: u64, h: &H) -> AlertEvent {
    let b = h.m.baseline().expect("baseline");
    AlertEvent::AlertStarted {
        hits,
        baseline: b,
        window_ns: h.m.config().window_ns,
        threshold_pct: h.m.config().threshold_pct,
        at: secs(at_s),
    }
}

fn recovered(hits: u64, at_s: u64, duration_s: u64, peak: u64) -> AlertEvent {
    AlertEvent::AlertRecovered {
        hits,
        at: secs(at_s),
        duration_ns: duration_s * S,
        peak,
    }
}

// ---- the threshold ---------------------------------------------------------------------

#[test]
fn baseline_100_threshold_1_101_hits_stay_normal() {
    let mut h = H::loaded(cfg(10, 10, 1), 1_000_000, baseline(100, 10));
    assert!(feed!(h, t = 1_000_500, 101).is_empty());
    assert!(tick!(h, t = 1_001_000).is_empty());
    assert_eq!(h.m.state(), AlertState::Normal { hits: 101 });
    // Every evaluation while the 101 are in the window, and after.
    assert!(h.tick_each_second(1_002, 1_020).is_empty());
    assert_eq!(h.m.state(), AlertState::Normal { hits: 0 });
}

#[test]
fn baseline_100_threshold_1_102_hits_alert() {
    let mut h = H::loaded(cfg(10, 10, 1), 1_000_000, baseline(100, 10));
    assert!(feed!(h, t = 1_000_500, 102).is_empty());
    assert_eq!(tick!(h, t = 1_001_000), vec![started(102, 1_001, &h)]);
    assert_eq!(
        h.m.state(),
        AlertState::Alert {
            since: secs(1_001),
            hits: 102,
            peak: 102
        }
    );
}

#[test]
fn learned_baseline_100_threshold_1_same_as_loaded() {
    // 100 requests in a 10 s learning period, window 10 s: baseline 100.
    let mut h = H::learning(cfg(10, 10, 1), 1_000_000);
    for i in 0..10 {
        feed!(h, t = 1_000_000 + i * 1_000, 10);
    }
    let ev = tick!(h, t = 1_010_000);
    assert_eq!(ev.len(), 1);
    assert!(
        matches!(ev[0], AlertEvent::LearningFinished { per_window: 100, at, .. } if at == secs(1_010))
    );
    // The first evaluation (at 1 010) sees exactly the learning period: 100.
    assert_eq!(h.m.state(), AlertState::Normal { hits: 100 });

    feed!(h, t = 1_030_000, 101);
    assert!(tick!(h, t = 1_031_000).is_empty());
    feed!(h, t = 1_041_000, 102);
    assert_eq!(tick!(h, t = 1_042_000), vec![started(102, 1_042, &h)]);
}

#[test]
fn far_over_the_threshold_alerts_at_the_first_evaluation_seeing_it() {
    let mut h = H::loaded(cfg(10, 10, 10), 1_000_000, baseline(10, 10));
    assert!(feed!(h, t = 1_000_999, 1_000).is_empty());
    // Evaluation 1 001 sees second 1 000.
    assert_eq!(feed!(h, t = 1_001_000, 1), vec![started(1_000, 1_001, &h)]);
}

#[test]
fn non_integer_baseline_7_requests_in_2_min_per_1_min_window() {
    // 7 requests over 120 s, window 60 s: 3.5 per window; threshold 10 %: limit 3.85.
    let run = |hits: u64| {
        let mut h = H::learning(cfg(120, 60, 10), 1_000_000);
        feed!(h, t = 1_000_000, 7);
        let ev = tick!(h, t = 1_120_000);
        let b = baseline(7, 120);
        assert_eq!(
            ev,
            vec![AlertEvent::LearningFinished {
                baseline: b,
                per_window: 3,
                window_ns: 60 * S,
                at: secs(1_120),
            }]
        );
        assert_eq!(h.m.baseline(), Some(b));
        assert_eq!(b.per_window_display(60 * S).to_string(), "3.5");
        // The 7 at 1 000 s are out of the window [1 060, 1 120).
        assert_eq!(h.m.hits_in_window(), 0);
        feed!(h, t = 1_130_000, hits);
        let ev = tick!(h, t = 1_131_000);
        (ev, h)
    };
    // 4 × 100 × 120 = 48 000 > 7 × 60 × 110 = 46 200.
    let (ev, h) = run(4);
    assert_eq!(ev, vec![started(4, 1_131, &h)]);
    // 3 × 100 × 120 = 36 000 ≤ 46 200.
    let (ev, h) = run(3);
    assert!(ev.is_empty());
    assert_eq!(h.m.state(), AlertState::Normal { hits: 3 });
}

#[test]
fn is_exceeded_is_exact_beyond_u128() {
    // c = l = w = u64::MAX, threshold u32::MAX: c × w × (100 + p) is about 2^160.
    let b = Baseline::new(u64::MAX, u64::MAX).expect("valid");
    let limit: u128 = 792_281_643_404_920_008_864_945_929; // floor(u64::MAX × (100 + p) / 100)
    assert!(!b.is_exceeded(limit, u64::MAX, u32::MAX));
    assert!(b.is_exceeded(limit + 1, u64::MAX, u32::MAX));
    // Threshold 0: over means strictly more than the baseline.
    assert!(!b.is_exceeded(u128::from(u64::MAX), u64::MAX, 0));
    assert!(b.is_exceeded(u128::from(u64::MAX) + 1, u64::MAX, 0));
    // The largest hits cannot overflow the left side.
    assert!(b.is_exceeded(u128::MAX, u64::MAX, u32::MAX));
    assert!(!baseline(1, 1).is_exceeded(0, S, 0));
}

// ---- the alert cycle -------------------------------------------------------------------

#[test]
fn full_cycle_alert_peak_recovered_then_normal_after_refresh() {
    // Baseline 10 per 10 s window, threshold 10 %: more than 11 alerts.
    let mut h = H::loaded(cfg(10, 10, 10), 1_000_000, baseline(10, 10));
    feed!(h, t = 1_000_100, 20);
    assert_eq!(feed!(h, t = 1_001_500, 5), vec![started(20, 1_001, &h)]);
    // Still alerting; the peak follows the highest evaluation.
    assert!(feed!(h, t = 1_002_500, 1).is_empty());
    assert_eq!(
        h.m.state(),
        AlertState::Alert {
            since: secs(1_001),
            hits: 25,
            peak: 25
        }
    );
    assert!(tick!(h, t = 1_003_000).is_empty());
    assert_eq!(
        h.m.state(),
        AlertState::Alert {
            since: secs(1_001),
            hits: 26,
            peak: 26
        }
    );
    assert_eq!(
        h.m.history().copied().collect::<Vec<_>>(),
        vec![Episode {
            start: secs(1_001),
            end: None,
            peak: 26
        }]
    );
    // Second 1 000 leaves the window at evaluation 1 011: 6 hits, recovered.
    assert!(h.tick_each_second(1_004, 1_010).is_empty());
    assert_eq!(h.m.hits_in_window(), 26);
    assert_eq!(tick!(h, t = 1_011_000), vec![recovered(6, 1_011, 10, 26)]);
    assert_eq!(
        h.m.state(),
        AlertState::Recovered {
            at: secs(1_011),
            duration_ns: 10 * S,
            peak: 26,
            hits: 6
        }
    );
    // Shown until the next refresh (1 s): the next evaluation is Normal.
    assert!(tick!(h, t = 1_011_999).is_empty());
    assert!(matches!(h.m.state(), AlertState::Recovered { .. }));
    assert!(tick!(h, t = 1_012_000).is_empty());
    assert_eq!(h.m.state(), AlertState::Normal { hits: 1 });
    assert_eq!(
        h.m.history().copied().collect::<Vec<_>>(),
        vec![Episode {
            start: secs(1_001),
            end: Some(secs(1_011)),
            peak: 26
        }]
    );
}

#[test]
fn recovered_lasts_until_the_first_evaluation_at_or_after_refresh() {
    for (refresh_ms, normal_at) in [(0, 1_012), (1_000, 1_012), (2_500, 1_014), (3_000, 1_014)] {
        let c = AlertConfig {
            refresh_ns: refresh_ms * 1_000_000,
            ..cfg(10, 10, 10)
        };
        let mut h = H::loaded(c, 1_000_000, baseline(10, 10));
        feed!(h, t = 1_000_000, 20);
        assert_eq!(h.tick_each_second(1_001, 1_011).len(), 2);
        assert!(matches!(h.m.state(), AlertState::Recovered { .. }));
        for s in 1_012..normal_at {
            tick!(h, t = s * 1_000);
            assert!(
                matches!(h.m.state(), AlertState::Recovered { .. }),
                "refresh {refresh_ms} ms, second {s}"
            );
        }
        tick!(h, t = normal_at * 1_000);
        assert_eq!(
            h.m.state(),
            AlertState::Normal { hits: 0 },
            "refresh {refresh_ms}"
        );
    }
}

#[test]
fn recovery_with_no_traffic_at_all_only_ticks() {
    let mut h = H::loaded(cfg(10, 10, 10), 1_000_000, baseline(10, 10));
    feed!(h, t = 1_000_000, 30);
    // Live mode: only wall-clock ticks, every half second, no more packets.
    let mut ev = Vec::new();
    for half in 2_001..=2_030 {
        ev.extend(tick!(h, t = half * 500));
    }
    assert_eq!(
        ev,
        vec![started(30, 1_001, &h), recovered(0, 1_011, 10, 30)]
    );
    assert_eq!(h.m.state(), AlertState::Normal { hits: 0 });
}

#[test]
fn recovered_can_alert_again_before_the_refresh() {
    let c = AlertConfig {
        refresh_ns: 5 * S,
        ..cfg(10, 10, 10)
    };
    let mut h = H::loaded(c, 1_000_000, baseline(10, 10));
    feed!(h, t = 1_000_000, 20);
    h.tick_each_second(1_001, 1_011);
    assert!(matches!(h.m.state(), AlertState::Recovered { .. }));
    feed!(h, t = 1_011_500, 50);
    assert_eq!(tick!(h, t = 1_012_000), vec![started(50, 1_012, &h)]);
    assert_eq!(h.m.history().len(), 2);
}

// ---- learning --------------------------------------------------------------------------

#[test]
fn learning_restarts_on_zero_twice_then_finishes() {
    let mut h = H::learning(cfg(10, 10, 10), 100_000);
    let ev = h.tick_each_second(101, 120);
    assert_eq!(
        ev,
        vec![
            AlertEvent::LearningRestarted {
                at: secs(110),
                empty_periods: 1
            },
            AlertEvent::LearningRestarted {
                at: secs(120),
                empty_periods: 1
            },
        ]
    );
    feed!(h, t = 125_000, 3);
    let AlertState::Learning(p) = h.m.state() else {
        panic!("still learning: {:?}", h.m.state());
    };
    assert_eq!(
        (p.started, p.ends, p.elapsed_ns, p.remaining_ns, p.requests),
        (secs(120), secs(130), 5 * S, 5 * S, 3)
    );
    assert_eq!(p.estimate(), Some(Baseline::new(3, 5 * S).expect("valid")));
    assert_eq!(p.estimate_per_window(), 6);
    assert_eq!(h.m.baseline(), None);
    let ev = h.tick_each_second(126, 130);
    assert_eq!(
        ev,
        vec![AlertEvent::LearningFinished {
            baseline: baseline(3, 10),
            per_window: 3,
            window_ns: 10 * S,
            at: secs(130),
        }]
    );
    assert_eq!(h.m.counters().learning_restarts, 2);
}

#[test]
fn learning_restarts_over_a_jump_are_one_event() {
    let mut h = H::learning(cfg(10, 10, 10), 100_000);
    // Three empty periods end by 135 s: [100, 110), [110, 120), [120, 130).
    assert_eq!(
        tick!(h, t = 135_000),
        vec![AlertEvent::LearningRestarted {
            at: secs(130),
            empty_periods: 3
        }]
    );
    assert_eq!(h.m.counters().learning_restarts, 3);
    assert_eq!(h.m.next_evaluation(), secs(140));
    feed!(h, t = 136_000, 1);
    let ev = tick!(h, t = 140_000);
    assert!(matches!(ev.as_slice(), [AlertEvent::LearningFinished { at, .. }] if *at == secs(140)));
}

#[test]
fn learning_ends_exactly_at_start_plus_learn() {
    // Start mid-second: learning is [1 000.25 s, 1 010.25 s).
    let start = 1_000_250;
    let end = Timestamp(1_010_250 * 1_000_000);
    let mut h = H::learning(cfg(10, 10, 10), start);
    assert_eq!(h.m.next_evaluation(), end);
    assert!(h.feed(Timestamp(end.0 - 1), 2).is_empty());
    assert!(
        matches!(h.m.state(), AlertState::Learning(p) if p.requests == 2 && p.remaining_ns == 1)
    );
    // A request exactly at the end is after learning.
    let ev = h.feed(end, 5);
    assert_eq!(
        ev,
        vec![AlertEvent::LearningFinished {
            baseline: baseline(2, 10),
            per_window: 2,
            window_ns: 10 * S,
            at: end,
        }]
    );
    assert_eq!(h.m.baseline(), Some(baseline(2, 10)));
    // The first evaluation is the first whole second at or after the end: 1 011.
    assert_eq!(h.m.next_evaluation(), secs(1_011));
    assert_eq!(tick!(h, t = 1_011_000), vec![started(7, 1_011, &h)]);
}

#[test]
fn first_evaluation_is_at_the_end_of_learning_when_it_is_a_whole_second() {
    let mut h = H::learning(cfg(10, 10, 10), 1_000_000);
    feed!(h, t = 1_000_000, 10);
    feed!(h, t = 1_009_999, 10);
    // Evaluation 1 010 sees [1 000, 1 010): the whole learning period, 20 = the baseline.
    let ev = tick!(h, t = 1_010_000);
    assert_eq!(ev.len(), 1);
    assert_eq!(h.m.state(), AlertState::Normal { hits: 20 });
}

#[test]
fn loaded_baseline_starts_normal_and_first_evaluates_after_start() {
    let mut h = H::loaded(cfg(10, 10, 10), 1_000_000, baseline(1, 10));
    assert_eq!(h.m.state(), AlertState::Normal { hits: 0 });
    assert_eq!(h.m.next_evaluation(), secs(1_001));
    // 2 requests at the start instant: the evaluation at 1 000 is before the machine.
    feed!(h, t = 1_000_000, 2);
    assert_eq!(tick!(h, t = 1_001_000), vec![started(2, 1_001, &h)]);
}

// ---- windows and time ------------------------------------------------------------------

#[test]
fn window_edges_follow_the_definition() {
    // Window 10 s: the evaluation at S sees seconds [S - 10, S).
    let mut h = H::loaded(cfg(10, 10, 10), 990_000, baseline(1_000, 10));
    feed!(h, t = 1_000_000, 1); // exactly at S - W for S = 1 010: counted there
    feed!(h, t = 1_009_999, 10); // last instant of second 1 009
    feed!(h, t = 1_010_000, 100); // exactly at S = 1 010: not in evaluation 1 010
    let mut seen = Vec::new();
    // Ticks from 1 010.5 s: evaluations 1 011.. ; first check 1 010 itself.
    seen.push((1_010, h.m.hits_in_window()));
    for s in 1_011..=1_022 {
        tick!(h, t = s * 1_000);
        seen.push((s, h.m.hits_in_window()));
    }
    assert_eq!(
        seen,
        vec![
            (1_010, 11),
            (1_011, 110), // [1 001, 1 011): second 1 000 left, 1 010 entered
            (1_012, 110),
            (1_013, 110),
            (1_014, 110),
            (1_015, 110),
            (1_016, 110),
            (1_017, 110),
            (1_018, 110),
            (1_019, 110),
            (1_020, 100), // second 1 009 left
            (1_021, 0),   // second 1 010 left
            (1_022, 0),
        ]
    );
}

#[test]
fn a_silence_of_minutes_is_evaluated_second_by_second() {
    let mut h = H::loaded(cfg(10, 10, 10), 1_000_000, baseline(10, 10));
    feed!(h, t = 1_000_000, 50);
    assert_eq!(tick!(h, t = 1_001_000), vec![started(50, 1_001, &h)]);
    // Five minutes without a packet, then a burst: the recovery happened at 1 011, the
    // second the first burst left the window, before the new packet counts.
    let ev = feed!(h, t = 1_300_400, 50);
    assert_eq!(ev, vec![recovered(0, 1_011, 10, 50)]);
    assert_eq!(h.m.state(), AlertState::Normal { hits: 0 });
    assert_eq!(tick!(h, t = 1_301_000), vec![started(50, 1_301, &h)]);

    // The same through ticks every second gives the same events at the same seconds.
    let mut t = H::loaded(cfg(10, 10, 10), 1_000_000, baseline(10, 10));
    feed!(t, t = 1_000_000, 50);
    let mut ev = t.tick_each_second(1_001, 1_300);
    ev.extend(feed!(t, t = 1_300_400, 50));
    ev.extend(tick!(t, t = 1_301_000));
    assert_eq!(
        ev,
        vec![
            started(50, 1_001, &t),
            recovered(0, 1_011, 10, 50),
            started(50, 1_301, &t),
        ]
    );
}

#[test]
fn a_silence_in_recovered_still_returns_to_normal_at_the_refresh() {
    let c = AlertConfig {
        refresh_ns: 30 * S,
        ..cfg(10, 10, 10)
    };
    let mut h = H::loaded(c, 1_000_000, baseline(10, 10));
    feed!(h, t = 1_000_000, 50);
    tick!(h, t = 1_011_000);
    assert!(matches!(h.m.state(), AlertState::Recovered { .. }));
    tick!(h, t = 1_040_999);
    assert!(matches!(h.m.state(), AlertState::Recovered { .. }));
    tick!(h, t = 1_041_000);
    assert_eq!(h.m.state(), AlertState::Normal { hits: 0 });
}

#[test]
fn late_timestamps_count_in_the_current_second_and_time_never_goes_back() {
    let mut h = H::loaded(cfg(10, 10, 10), 1_000_000, baseline(100, 10));
    feed!(h, t = 1_005_500, 1);
    feed!(h, t = 1_005_100, 1); // earlier, same second: not late
    feed!(h, t = 1_003_000, 1); // earlier second: counted in 1 005
    feed!(h, t = 0, 1);
    assert_eq!(h.m.counters().late_requests, 2);
    assert_eq!(h.m.clock(), ms(1_005_500));
    assert!(tick!(h, t = 1_004_000).is_empty());
    assert_eq!(h.m.clock(), ms(1_005_500));
    tick!(h, t = 1_006_000);
    assert_eq!(h.m.hits_in_window(), 4);
    tick!(h, t = 1_015_000);
    assert_eq!(h.m.hits_in_window(), 4);
    tick!(h, t = 1_016_000);
    assert_eq!(h.m.hits_in_window(), 0);
}

#[test]
fn next_evaluation_is_the_next_boundary() {
    let mut h = H::loaded(cfg(10, 10, 10), 1_000_300, baseline(100, 10));
    assert_eq!(h.m.next_evaluation(), secs(1_001));
    tick!(h, t = 1_001_000);
    assert_eq!(h.m.next_evaluation(), secs(1_002));
    tick!(h, t = 1_001_999);
    assert_eq!(h.m.next_evaluation(), secs(1_002));
}

// ---- forbidden transitions -------------------------------------------------------------

#[test]
fn no_alert_while_learning_whatever_the_traffic() {
    let mut h = H::learning(cfg(60, 10, 0), 1_000_000);
    let mut ev = Vec::new();
    for s in 1_000..1_060 {
        // Growing traffic: every second more than the window so far.
        ev.extend(h.feed(secs(s), (s - 999) * 1_000));
        assert!(matches!(h.m.state(), AlertState::Learning(_)));
        assert_eq!(h.m.baseline(), None);
    }
    assert!(ev.is_empty(), "{ev:?}");
    // The first evaluation after learning may alert: [1 050, 1 060) holds 555 000 hits,
    // the baseline is 1 830 000 per 60 s = 305 000 per window.
    let ev = tick!(h, t = 1_060_000);
    assert!(matches!(
        ev[0],
        AlertEvent::LearningFinished {
            per_window: 305_000,
            ..
        }
    ));
    assert_eq!(ev[1..], [started(555_000, 1_060, &h)]);
}

#[test]
fn normal_never_goes_to_recovered_and_recovered_needs_an_alert() {
    // Traffic at, but never over, the threshold: only Normal, no event.
    let mut h = H::loaded(cfg(10, 10, 0), 1_000_000, baseline(10, 10));
    for s in 1_000..1_100 {
        assert!(h.feed(secs(s), 1).is_empty());
        assert!(matches!(h.m.state(), AlertState::Normal { .. }));
    }
    // Drop to zero: still no recovery, as there was no alert.
    for s in 1_100..1_200 {
        assert!(h.tick(secs(s)).is_empty());
        assert!(matches!(h.m.state(), AlertState::Normal { .. }));
    }
    assert_eq!(h.m.history().len(), 0);
}

#[test]
fn alert_never_goes_straight_to_normal() {
    // Refresh 0: Recovered still lasts one evaluation.
    let c = AlertConfig {
        refresh_ns: 0,
        ..cfg(10, 10, 10)
    };
    let mut h = H::loaded(c, 1_000_000, baseline(10, 10));
    feed!(h, t = 1_000_000, 50);
    let mut states = Vec::new();
    for s in 1_001..1_015 {
        tick!(h, t = s * 1_000);
        states.push(std::mem::discriminant(&h.m.state()));
    }
    states.dedup();
    let names: Vec<_> = [
        AlertState::Alert {
            since: secs(0),
            hits: 0,
            peak: 0,
        },
        AlertState::Recovered {
            at: secs(0),
            duration_ns: 0,
            peak: 0,
            hits: 0,
        },
        AlertState::Normal { hits: 0 },
    ]
    .iter()
    .map(std::mem::discriminant)
    .collect();
    assert_eq!(states, names);
}

#[test]
fn baseline_never_changes_after_learning_and_learning_never_comes_back() {
    let mut h = H::learning(cfg(10, 10, 10), 1_000_000);
    feed!(h, t = 1_000_000, 10);
    tick!(h, t = 1_010_000);
    let b = h.m.baseline();
    assert_eq!(b, Some(baseline(10, 10)));
    let mut ev = Vec::new();
    for s in 1_010..1_200 {
        ev.extend(h.feed(secs(s), s % 7 * 10));
        assert_eq!(h.m.baseline(), b);
        assert!(!matches!(h.m.state(), AlertState::Learning(_)));
    }
    // Hours of silence, then a flood.
    ev.extend(h.tick(secs(10_000)));
    ev.extend(h.feed(secs(10_001), 1_000_000));
    ev.extend(h.tick(secs(10_100)));
    assert_eq!(h.m.baseline(), b);
    assert!(ev.iter().all(|e| matches!(
        e,
        AlertEvent::AlertStarted { .. } | AlertEvent::AlertRecovered { .. }
    )));
    assert_eq!(h.m.counters().learning_restarts, 0);
}

#[test]
fn a_loaded_baseline_never_learns() {
    let mut h = H::loaded(cfg(10, 10, 10), 1_000_000, baseline(5, 10));
    let ev = h.tick_each_second(1_001, 1_100);
    assert!(ev.is_empty());
    assert_eq!(h.m.baseline(), Some(baseline(5, 10)));
    assert_eq!(h.m.state(), AlertState::Normal { hits: 0 });
}

// ---- configuration and hostile input -----------------------------------------------------

#[test]
fn config_is_validated() {
    let at = |learn_ns, window_ns| {
        let c = AlertConfig {
            learn_ns,
            window_ns,
            ..AlertConfig::default()
        };
        Alerting::new(c, secs(0), None).map(|_| ())
    };
    assert_eq!(at(S, S), Ok(()));
    assert_eq!(at(S - 1, S), Err(AlertConfigError::LearnTooShort));
    assert_eq!(at(0, S), Err(AlertConfigError::LearnTooShort));
    assert_eq!(at(S, 0), Err(AlertConfigError::WindowTooShort));
    assert_eq!(at(S, S - 1), Err(AlertConfigError::WindowTooShort));
    assert_eq!(
        at(S, 3 * S / 2),
        Err(AlertConfigError::WindowNotWholeSeconds)
    );
    assert_eq!(at(S, MAX_WINDOW_NS - S), Ok(()));
    assert_eq!(at(S, MAX_WINDOW_NS), Ok(()));
    assert_eq!(
        at(S, MAX_WINDOW_NS + S),
        Err(AlertConfigError::WindowTooLong)
    );
    assert_eq!(at(u64::MAX, S), Ok(()));
    assert_eq!(
        AlertConfigError::WindowTooLong.to_string(),
        "alert window is longer than 1d 0h 0m 0s"
    );
    let d = AlertConfig::default();
    assert_eq!(
        (
            d.learn_ns,
            d.window_ns,
            d.threshold_pct,
            d.refresh_ns,
            d.retention_ns,
            d.max_history
        ),
        (120 * S, 120 * S, 10, S, 86_400 * S, 10_000)
    );
}

#[test]
fn hostile_counts_and_times_do_not_panic() {
    // Saturating counts.
    let mut h = H::learning(cfg(1, 1, 10), 0);
    feed!(h, t = 0, u64::MAX);
    feed!(h, t = 0, u64::MAX);
    feed!(h, t = 500, u64::MAX);
    assert!(matches!(h.m.state(), AlertState::Learning(p) if p.requests == u64::MAX));
    tick!(h, t = 1_000);
    assert_eq!(
        h.m.baseline(),
        Some(Baseline::new(u64::MAX, S).expect("valid"))
    );
    assert_eq!(h.m.hits_in_window(), u64::MAX);

    // A 24 h window full of saturated buckets: the sum stays exact.
    let mut h = H::loaded(cfg(1, 86_400, 0), 0, Baseline::new(1, S).expect("valid"));
    for s in 0..100 {
        h.feed(secs(s), u64::MAX);
    }
    h.tick(secs(100));
    assert_eq!(h.m.hits_in_window(), u64::MAX);
    assert!(matches!(h.m.state(), AlertState::Alert { .. }));

    // Jumps to the end of time: learning, alerting, and at the end itself.
    let mut h = H::learning(cfg(120, 120, 10), 0);
    let ev = h.tick(Timestamp(u64::MAX));
    assert!(matches!(
        ev.as_slice(),
        [AlertEvent::LearningRestarted { .. }]
    ));
    h.feed(Timestamp(u64::MAX), 5);
    h.feed(Timestamp(u64::MAX - 1), 5);
    h.tick(Timestamp(u64::MAX));
    assert!(matches!(h.m.state(), AlertState::Learning(_)));

    let mut h = H::loaded(cfg(1, 86_400, 10), 0, baseline(1, 86_400));
    feed!(h, t = 0, 1_000);
    assert_eq!(tick!(h, t = 1_000).len(), 1);
    let ev = h.tick(Timestamp(u64::MAX));
    assert_eq!(ev, vec![recovered(0, 86_401, 86_400, 1_000)]);
    h.feed(Timestamp(u64::MAX), 1_000);
    h.tick(Timestamp(u64::MAX));
    assert!(matches!(h.m.state(), AlertState::Normal { .. }));
}

// ---- history -----------------------------------------------------------------------------

/// One alert of `len_s` seconds starting at `at_s` (baseline 10 per 10 s window, threshold
/// 0: 11 hits alert; a window empties 10 s after its last request).
fn alert_for(h: &mut H, at_s: u64, len_s: u64) {
    assert!(len_s >= 10);
    for s in at_s - 1..at_s + len_s - 10 {
        h.feed(secs(s), 11);
    }
    h.tick(secs(at_s + len_s));
}

#[test]
fn history_keeps_durations_and_peaks_with_max_and_avg_of_ended_episodes() {
    let mut h = H::loaded(cfg(10, 10, 0), 999_000, baseline(10, 10));
    alert_for(&mut h, 1_000, 10);
    alert_for(&mut h, 2_000, 30);
    alert_for(&mut h, 3_000, 15);
    let got: Vec<_> =
        h.m.history()
            .map(|e| (e.start, e.duration_ns(), e.is_active()))
            .collect();
    assert_eq!(
        got,
        vec![
            (secs(1_000), Some(10 * S), false),
            (secs(2_000), Some(30 * S), false),
            (secs(3_000), Some(15 * S), false),
        ]
    );
    assert_eq!(h.m.max_alert_duration_ns(), Some(30 * S));
    assert_eq!(h.m.avg_alert_duration_ns(), Some(55 * S / 3));
    // An active episode is listed but not counted in max or average.
    h.feed(secs(3_999), 1_000);
    h.tick(secs(4_000));
    assert!(h
        .m
        .history()
        .last()
        .is_some_and(|e| e.is_active() && e.peak == 1_000));
    assert_eq!(h.m.history().len(), 4);
    assert_eq!(h.m.max_alert_duration_ns(), Some(30 * S));
    assert_eq!(h.m.avg_alert_duration_ns(), Some(55 * S / 3));
}

#[test]
fn no_history_no_durations() {
    let h = H::loaded(cfg(10, 10, 0), 0, baseline(10, 10));
    assert_eq!(h.m.history().len(), 0);
    assert_eq!(h.m.max_alert_duration_ns(), None);
    assert_eq!(h.m.avg_alert_duration_ns(), None);
}

#[test]
fn history_is_purged_by_retention_at_the_cutoff() {
    let c = AlertConfig {
        retention_ns: 100 * S,
        ..cfg(10, 10, 0)
    };
    let mut h = H::loaded(c, 999_000, baseline(10, 10));
    alert_for(&mut h, 1_000, 10); // ends at 1 010
    alert_for(&mut h, 1_050, 10); // ends at 1 060
    h.tick(secs(1_110));
    assert_eq!(h.m.history().len(), 2);
    // Ended at 1 010, cut-off 1 110 - 100 = 1 010: not *before* the cut-off, kept.
    let t = secs(1_110).add_nanos(1);
    h.tick(t);
    // 1 110 s + 1 ns: 1 010 < cut-off, purged.
    assert_eq!(h.m.history().len(), 1);
    assert_eq!(h.m.counters().history_expired, 1);
    h.tick(secs(1_160));
    assert_eq!(h.m.history().len(), 1);
    h.tick(secs(1_160).add_nanos(1));
    assert_eq!(h.m.history().len(), 0);
    assert_eq!(h.m.counters().history_expired, 2);
}

#[test]
fn active_episode_survives_retention() {
    let c = AlertConfig {
        retention_ns: 5 * S,
        ..cfg(10, 10, 0)
    };
    let mut h = H::loaded(c, 999_000, baseline(10, 10));
    for s in 999..1_100 {
        h.feed(secs(s), 100);
    }
    assert!(h.m.history().next().is_some_and(Episode::is_active));
    assert_eq!(h.m.counters().history_expired, 0);
}

#[test]
fn history_count_cap_at_cap_minus_one_cap_and_cap_plus_one() {
    for (alerts, kept, dropped) in [(4, 4, 0), (5, 5, 0), (6, 5, 1)] {
        let c = AlertConfig {
            max_history: 5,
            ..cfg(10, 10, 0)
        };
        let mut h = H::loaded(c, 999_000, baseline(10, 10));
        for i in 0..alerts {
            alert_for(&mut h, 1_000 + 100 * i, 10 + i);
        }
        assert_eq!(h.m.history().len(), kept, "{alerts} alerts");
        assert_eq!(h.m.counters().history_dropped, dropped, "{alerts} alerts");
        // The oldest went first.
        let first = 1_000 + 100 * (alerts - kept as u64);
        assert_eq!(h.m.history().next().map(|e| e.start), Some(secs(first)));
    }
    // max_history 0 keeps none and counts every episode.
    let c = AlertConfig {
        max_history: 0,
        ..cfg(10, 10, 0)
    };
    let mut h = H::loaded(c, 999_000, baseline(10, 10));
    alert_for(&mut h, 1_000, 10);
    alert_for(&mut h, 1_100, 10);
    assert_eq!(h.m.history().len(), 0);
    assert_eq!(h.m.counters().history_dropped, 2);
}

// ---- events' wording -------------------------------------------------------------------

#[test]
fn messages_use_the_original_wording() {
    let t = Timestamp::from_secs(1_709_251_199);
    let b = baseline(7, 120);
    let started = AlertEvent::AlertStarted {
        hits: 102,
        baseline: b,
        window_ns: 60 * S,
        threshold_pct: 10,
        at: t,
    };
    assert_eq!(
        started.message(),
        "High traffic generated an alert - hits = 102, triggered at 2024-02-29 23:59:59"
    );
    let rec = AlertEvent::AlertRecovered {
        hits: 3,
        at: t,
        duration_ns: 125 * S,
        peak: 250,
    };
    assert_eq!(
        rec.message(),
        "Recovered from high traffic at 2024-02-29 23:59:59 - alert lasted 2m 5s, peak 250 hits"
    );
    let fin = AlertEvent::LearningFinished {
        baseline: b,
        per_window: 3,
        window_ns: 60 * S,
        at: t,
    };
    assert_eq!(
        fin.message(),
        "Learning finished at 2024-02-29 23:59:59 - baseline 3.5 hits per 1m 0s (7 requests in 2m 0s)"
    );
    let one = AlertEvent::LearningRestarted {
        at: t,
        empty_periods: 1,
    };
    assert_eq!(
        one.message(),
        "No requests during learning - learning restarted at 2024-02-29 23:59:59"
    );
    let three = AlertEvent::LearningRestarted {
        at: t,
        empty_periods: 3,
    };
    assert_eq!(
        three.message(),
        "No requests during 3 learning periods - learning restarted at 2024-02-29 23:59:59"
    );
    for e in [started, rec, fin, one, three] {
        assert_eq!(e.at(), t);
    }
}

// ---- baseline files ----------------------------------------------------------------------

#[test]
fn baseline_text_round_trips() {
    for b in [
        baseline(7, 120),
        baseline(1, 1),
        Baseline::new(u64::MAX, u64::MAX).expect("valid"),
        Baseline::new(12_345, 123_456_789).expect("valid"),
    ] {
        let text = b.to_text();
        assert_eq!(Baseline::from_text(&text), Ok(b), "{text}");
        assert_eq!(text.parse::<Baseline>(), Ok(b));
        assert!(text.len() < 200);
    }
    assert_eq!(
        baseline(7, 120).to_text(),
        "httptop-baseline v1\n# 7 requests in 2m 0s, 3.5 per minute\nrequests=7\nover_ns=120000000000\n"
    );
}

#[test]
fn baseline_files_tolerate_comments_blank_lines_crlf_order_and_spaces() {
    let text = "\r\n# saved by httptop\r\n  httptop-baseline v1 \r\n\r\n over_ns = 60000000000\t\r\n# x=y\r\nrequests=3";
    assert_eq!(
        Baseline::from_text(text),
        Ok(Baseline::new(3, 60 * S).expect("valid"))
    );
}

#[test]
fn hostile_baseline_files_are_errors() {
    use BaselineError as E;
    let ok = "httptop-baseline v1\nrequests=7\nover_ns=120000000000\n";
    assert!(Baseline::from_text(ok).is_ok());
    let cases: Vec<(Vec<u8>, BaselineError)> = vec![
        (b"".to_vec(), E::BadHeader { line: 0 }),
        (b"\n\n# only comments\n".to_vec(), E::BadHeader { line: 0 }),
        (b"requests=7\n".to_vec(), E::BadHeader { line: 1 }),
        (
            b"httptop-baseline v2\nrequests=7\n".to_vec(),
            E::BadHeader { line: 1 },
        ),
        (
            b"\xEF\xBB\xBFhttptop-baseline v1\nrequests=7\nover_ns=1\n".to_vec(),
            E::BadHeader { line: 1 },
        ),
        (b"httptop-baseline v1\n".to_vec(), E::MissingKey("requests")),
        (
            b"httptop-baseline v1\nrequests=7\n".to_vec(),
            E::MissingKey("over_ns"),
        ),
        (
            b"httptop-baseline v1\nrequests 7\n".to_vec(),
            E::Malformed { line: 2 },
        ),
        (
            b"httptop-baseline v1\nrequests=7\nrate=1\n".to_vec(),
            E::UnknownKey { line: 3 },
        ),
        (
            b"httptop-baseline v1\nREQUESTS=7\n".to_vec(),
            E::UnknownKey { line: 2 },
        ),
        (
            b"httptop-baseline v1\nrequests=7\nrequests=8\n".to_vec(),
            E::DuplicateKey { line: 3 },
        ),
        (
            b"httptop-baseline v1\nrequests=\n".to_vec(),
            E::BadNumber { line: 2 },
        ),
        (
            b"httptop-baseline v1\nrequests=+7\n".to_vec(),
            E::BadNumber { line: 2 },
        ),
        (
            b"httptop-baseline v1\nrequests=-7\n".to_vec(),
            E::BadNumber { line: 2 },
        ),
        (
            b"httptop-baseline v1\nrequests=7.5\n".to_vec(),
            E::BadNumber { line: 2 },
        ),
        (
            b"httptop-baseline v1\nrequests=1e3\n".to_vec(),
            E::BadNumber { line: 2 },
        ),
        (
            b"httptop-baseline v1\nrequests=7 8\n".to_vec(),
            E::BadNumber { line: 2 },
        ),
        (
            b"httptop-baseline v1\nrequests=0x10\n".to_vec(),
            E::BadNumber { line: 2 },
        ),
        (
            b"httptop-baseline v1\nrequests=18446744073709551616\n".to_vec(),
            E::BadNumber { line: 2 },
        ),
        (
            b"httptop-baseline v1\nrequests=000000000000000000007\n".to_vec(),
            E::BadNumber { line: 2 },
        ),
        (
            b"httptop-baseline v1\nrequests=\xff\n".to_vec(),
            E::BadNumber { line: 2 },
        ),
        (
            b"httptop-baseline v1\nrequests=\x1b[2J\n".to_vec(),
            E::BadNumber { line: 2 },
        ),
        (
            b"httptop-baseline v1\nrequests=\0\n".to_vec(),
            E::BadNumber { line: 2 },
        ),
        (
            b"httptop-baseline v1\nrequests=0\nover_ns=1\n".to_vec(),
            E::ZeroRequests,
        ),
        (
            b"httptop-baseline v1\nrequests=1\nover_ns=0\n".to_vec(),
            E::ZeroDuration,
        ),
        (
            format!("httptop-baseline v1\n{}", "#".repeat(BASELINE_MAX_TEXT)).into_bytes(),
            E::TooLong,
        ),
    ];
    for (text, want) in cases {
        let got = Baseline::from_bytes(&text);
        assert_eq!(got, Err(want), "{:?}", String::from_utf8_lossy(&text));
        // Error messages never echo the file.
        let msg = want.to_string();
        assert!(
            msg.chars().all(|c| c.is_ascii_graphic() || c == ' '),
            "{msg}"
        );
    }
    // At the size cap exactly: accepted.
    let mut at_cap = ok.as_bytes().to_vec();
    at_cap.resize(BASELINE_MAX_TEXT, b'\n');
    assert!(Baseline::from_bytes(&at_cap).is_ok());
    at_cap.push(b'\n');
    assert_eq!(Baseline::from_bytes(&at_cap), Err(E::TooLong));
    assert_eq!(
        Baseline::from_text("httptop-baseline v1\nrequests=18446744073709551615\nover_ns=1"),
        Ok(Baseline::new(u64::MAX, 1).expect("valid"))
    );
}

#[test]
fn per_window_display_truncates_to_two_decimals() {
    let cases = [
        ((7, 120 * S), 60 * S, "3.5", 3),
        ((100, 10 * S), 10 * S, "100", 100),
        ((1, 3 * S), S, "0.33", 0),
        ((2, 3 * S), S, "0.66", 0),
        ((1, 100 * S), S, "0.01", 0),
        ((1, 1_000 * S), S, "0", 0),
        (
            (u64::MAX, 1),
            u64::MAX,
            "340282366920938463426481119284349108225",
            u64::MAX,
        ),
    ];
    for ((r, o), w, text, floor) in cases {
        let b = Baseline::new(r, o).expect("valid");
        assert_eq!(b.per_window_display(w).to_string(), text);
        assert_eq!(b.per_window(w), floor);
    }
}

// ---- formatting --------------------------------------------------------------------------

#[test]
fn utc_formatting_of_fixed_timestamps() {
    let cases = [
        (0, "1970-01-01 00:00:00"),
        (68_169_600, "1972-02-29 00:00:00"),
        (946_684_799, "1999-12-31 23:59:59"),
        (951_827_696, "2000-02-29 12:34:56"),
        (1_709_251_199, "2024-02-29 23:59:59"),
        (1_709_251_200, "2024-03-01 00:00:00"),
        (2_147_483_648, "2038-01-19 03:14:08"),
        (4_107_542_399, "2100-02-28 23:59:59"),
        (4_107_542_400, "2100-03-01 00:00:00"),
        (13_574_563_200, "2400-02-29 00:00:00"),
    ];
    for (s, want) in cases {
        assert_eq!(format_utc(secs(s)), want);
    }
    // Fractions are truncated; the end of u64 time still formats.
    assert_eq!(
        format_utc(Timestamp(1_709_251_199_999_999_999)),
        "2024-02-29 23:59:59"
    );
    assert_eq!(format_utc(Timestamp(u64::MAX)), "2554-07-21 23:34:33");
}

#[test]
fn utc_dates_match_a_day_by_day_calendar_walk() {
    let leap = |y: u64| y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let (mut y, mut m, mut d) = (1970u64, 1u64, 1u64);
    for day in 0..(2_550 - 1_970) * 366 {
        assert_eq!(civil(day), (y, m, d), "day {day}");
        let len = match m {
            2 if leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        d += 1;
        if d > len {
            d = 1;
            m += 1;
            if m > 12 {
                m = 1;
                y += 1;
            }
        }
    }
}

fn civil(day: u64) -> (u64, u64, u64) {
    let s = format_utc(Timestamp::from_secs(day * 86_400));
    let p = |r: core::ops::Range<usize>| s[r].parse::<u64>().expect("digits");
    (p(0..4), p(5..7), p(8..10))
}

#[test]
fn duration_formatting() {
    let cases = [
        (0, "0s"),
        (999_999_999, "0s"),
        (S, "1s"),
        (45 * S, "45s"),
        (60 * S, "1m 0s"),
        (125 * S, "2m 5s"),
        (3_600 * S, "1h 0m 0s"),
        (3_612 * S, "1h 0m 12s"),
        (86_399 * S, "23h 59m 59s"),
        (86_400 * S, "1d 0h 0m 0s"),
        (2 * 86_400 * S + 180 * S, "2d 0h 3m 0s"),
        (u64::MAX, "213503d 23h 34m 33s"),
    ];
    for (ns, want) in cases {
        assert_eq!(format_duration(ns), want, "{ns}");
    }
}

// ---- properties --------------------------------------------------------------------------

/// A scripted run: a machine's settings, requests (sorted, at or after start) and extra
/// ticks (sorted), and the time the run ends.
#[derive(Clone, Debug)]
struct Scenario {
    cfg: AlertConfig,
    start: u64,
    baseline: Option<Baseline>,
    requests: Vec<(u64, u64)>,
    ticks: Vec<u64>,
    end: u64,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        (1_000u64..100_000, 0u64..S),
        S..20 * S,
        1u64..=15,
        0u32..=60,
        0u64..=3 * S,
        proptest::option::of((1u64..=40, S..=15 * S)),
        proptest::collection::vec((0u64..90_000, prop_oneof![1u64..=3, 8u64..=40]), 0..150),
        proptest::collection::vec(0u64..130_000, 0..20),
        0u64..40_000,
    )
        .prop_map(
            |((start_s, frac), learn_ns, window_s, thr, refresh_ns, b, reqs, ticks, tail)| {
                let start = start_s * S + frac;
                let mut requests: Vec<_> = reqs
                    .into_iter()
                    .map(|(off_ms, n)| (start + off_ms * 1_000_000, n))
                    .collect();
                requests.sort_unstable();
                let last = requests.last().map_or(start, |r| r.0);
                let end = last + tail * 1_000_000;
                let mut ticks: Vec<_> = ticks
                    .into_iter()
                    .map(|off_ms| start + off_ms * 1_000_000)
                    .filter(|&t| t <= end)
                    .collect();
                ticks.sort_unstable();
                Scenario {
                    cfg: AlertConfig {
                        learn_ns,
                        window_ns: window_s * S,
                        threshold_pct: thr,
                        refresh_ns,
                        ..AlertConfig::default()
                    },
                    start,
                    baseline: b.map(|(r, o)| Baseline::new(r, o).expect("valid")),
                    requests,
                    ticks,
                    end,
                }
            },
        )
}

/// What the module documentation promises, computed the slow way from the raw requests.
struct Naive {
    /// Hits seen at each boundary `S` in `floor(start)+1 ..= floor(end)`.
    hits: Vec<(u64, u64)>,
    /// Every event except `LearningRestarted`, whose grouping depends on the calls.
    events: Vec<AlertEvent>,
    restarts: u64,
}

fn naive(sc: &Scenario) -> Naive {
    let w = sc.cfg.window_ns / S;
    let window_hits = |b: u64| -> u64 {
        sc.requests
            .iter()
            .filter(|&&(t, _)| t / S + w >= b && t / S < b)
            .map(|&(_, n)| n)
            .sum()
    };
    let hits = (sc.start / S + 1..=sc.end / S)
        .map(|b| (b, window_hits(b)))
        .collect();
    let mut events = Vec::new();
    let mut restarts = 0;
    // Learning.
    let (baseline, first_eval) = match sc.baseline {
        Some(b) => (Some(b), sc.start / S + 1),
        None => {
            let mut from = sc.start;
            loop {
                let to = from + sc.cfg.learn_ns;
                if to > sc.end {
                    break (None, u64::MAX);
                }
                let count: u64 = sc
                    .requests
                    .iter()
                    .filter(|&&(t, _)| t >= from && t < to)
                    .map(|&(_, n)| n)
                    .sum();
                if count > 0 {
                    let b = Baseline::new(count, sc.cfg.learn_ns).expect("valid");
                    events.push(AlertEvent::LearningFinished {
                        baseline: b,
                        per_window: b.per_window(sc.cfg.window_ns),
                        window_ns: sc.cfg.window_ns,
                        at: Timestamp(to),
                    });
                    break (Some(b), to.div_ceil(S));
                }
                restarts += 1;
                from = to;
            }
        }
    };
    // Alerting.
    if let Some(b) = baseline {
        let (c, l, wn, p) = (
            u128::from(b.requests()),
            u128::from(b.over_ns()),
            u128::from(sc.cfg.window_ns),
            u128::from(sc.cfg.threshold_pct),
        );
        enum St {
            Normal,
            Alert(u64, u64),
            Recovered(u64),
        }
        let mut st = St::Normal;
        for s in first_eval..=sc.end / S {
            let hits = window_hits(s);
            let over = u128::from(hits) * 100 * l > c * wn * (100 + p);
            st = match st {
                St::Normal | St::Recovered(_) if over => {
                    events.push(AlertEvent::AlertStarted {
                        hits,
                        baseline: b,
                        window_ns: sc.cfg.window_ns,
                        threshold_pct: sc.cfg.threshold_pct,
                        at: secs(s),
                    });
                    St::Alert(s, hits)
                }
                St::Normal => St::Normal,
                St::Recovered(r) if s * S >= r * S + sc.cfg.refresh_ns => St::Normal,
                St::Recovered(r) => St::Recovered(r),
                St::Alert(since, peak) if over => St::Alert(since, peak.max(hits)),
                St::Alert(since, peak) => {
                    events.push(AlertEvent::AlertRecovered {
                        hits,
                        at: secs(s),
                        duration_ns: (s - since) * S,
                        peak,
                    });
                    St::Recovered(s)
                }
            };
        }
    }
    Naive {
        hits,
        events,
        restarts,
    }
}

fn without_restarts(ev: Vec<AlertEvent>) -> Vec<AlertEvent> {
    ev.into_iter()
        .filter(|e| !matches!(e, AlertEvent::LearningRestarted { .. }))
        .collect()
}

fn kind(s: &AlertState) -> u8 {
    match s {
        AlertState::Learning(_) => 0,
        AlertState::Normal { .. } => 1,
        AlertState::Alert { .. } => 2,
        AlertState::Recovered { .. } => 3,
    }
}

/// Whether one call may take the machine from `prev` to `now`, given the events it pushed.
fn step_allowed(prev: &AlertState, now: &AlertState, events: &[AlertEvent]) -> bool {
    match (kind(prev), kind(now)) {
        (0, 0) | (0, 1) | (1, 1) | (1, 2) | (2, 2) | (2, 3) | (3, 3) | (3, 1) | (3, 2) => true,
        // Learning ended exactly on the boundary whose evaluation alerted: Normal lasted
        // no time at all.
        (0, 2) => matches!(
            events,
            [
                AlertEvent::LearningFinished { at: a, .. },
                AlertEvent::AlertStarted { at: b, .. },
            ] if a == b
        ),
        _ => false,
    }
}

proptest! {
    /// Requests and a few ticks at random times: the events are the slow model's, whatever
    /// the calls (the skipped silences included).
    #[test]
    fn events_match_a_naive_model(sc in scenario()) {
        let want = naive(&sc);
        let mut m = Alerting::new(sc.cfg.clone(), Timestamp(sc.start), sc.baseline)
            .expect("valid config");
        let mut ev = Vec::new();
        let (mut r, mut t) = (sc.requests.iter().peekable(), sc.ticks.iter().peekable());
        loop {
            let next_tick = t.peek().map(|&&tt| tt);
            match r.peek() {
                Some(&&(rt, n)) if next_tick.is_none_or(|tt| rt <= tt) => {
                    m.on_requests(Timestamp(rt), n, &mut ev);
                    r.next();
                }
                _ => match next_tick {
                    Some(tt) => {
                        m.advance(Timestamp(tt), &mut ev);
                        t.next();
                    }
                    None => break,
                },
            }
        }
        m.advance(Timestamp(sc.end), &mut ev);
        prop_assert_eq!(without_restarts(ev), want.events);
        prop_assert_eq!(m.counters().learning_restarts, want.restarts);
        prop_assert_eq!(m.counters().late_requests, 0);
    }

    /// Ticked at every whole second: the hits at each evaluation equal a recount over the
    /// raw timestamps, every state change is an allowed one, and the events are the
    /// model's.
    #[test]
    fn hits_at_every_evaluation_match_a_naive_recount(sc in scenario()) {
        let want = naive(&sc);
        let mut m = Alerting::new(sc.cfg.clone(), Timestamp(sc.start), sc.baseline)
            .expect("valid config");
        let mut ev = Vec::new();
        let mut reqs = sc.requests.iter().peekable();
        let mut prev = m.state();
        let mut alerted = false;
        // Checks the state change made by the call that pushed `ev[seen..]`.
        let mut check = |m: &Alerting, ev: &[AlertEvent], seen: usize| {
            let now = m.state();
            let ok = step_allowed(&prev, &now, &ev[seen..]);
            alerted |= kind(&now) == 2;
            let ok = ok
                && (kind(&now) != 3 || alerted)
                && (sc.baseline.is_none() || kind(&now) != 0);
            let msg = format!("{prev:?} -> {now:?} with {:?}", &ev[seen..]);
            prev = now;
            (ok, msg)
        };
        for &(b, hits) in &want.hits {
            while let Some(&&(t, n)) = reqs.peek() {
                if t >= b * S {
                    break;
                }
                let seen = ev.len();
                m.on_requests(Timestamp(t), n, &mut ev);
                let (ok, msg) = check(&m, &ev, seen);
                prop_assert!(ok, "{}", msg);
                reqs.next();
            }
            // Like a live caller: tick at the end of learning too.
            if m.next_evaluation() < secs(b) {
                let seen = ev.len();
                m.advance(m.next_evaluation(), &mut ev);
                let (ok, msg) = check(&m, &ev, seen);
                prop_assert!(ok, "{}", msg);
            }
            let seen = ev.len();
            m.advance(secs(b), &mut ev);
            prop_assert_eq!(m.hits_in_window(), hits, "boundary {}", b);
            let (ok, msg) = check(&m, &ev, seen);
            prop_assert!(ok, "at {}: {}", b, msg);
        }
        for &(t, n) in reqs {
            m.on_requests(Timestamp(t), n, &mut ev);
        }
        m.advance(Timestamp(sc.end), &mut ev);
        prop_assert_eq!(without_restarts(ev), want.events.clone());
        let closed = m.history().filter(|e| !e.is_active()).count();
        let recoveries = want
            .events
            .iter()
            .filter(|e| matches!(e, AlertEvent::AlertRecovered { .. }))
            .count();
        prop_assert_eq!(closed, recoveries);
    }

    /// The alert rule against plain u128 arithmetic where that cannot overflow.
    #[test]
    fn is_exceeded_matches_u128_arithmetic(
        hits in 0u64..1 << 40,
        c in 1u64..1 << 30,
        l in 1u64..1 << 40,
        w in 1u64..1 << 40,
        p in 0u32..1 << 20,
    ) {
        let b = Baseline::new(c, l).expect("valid");
        let want = u128::from(hits) * 100 * u128::from(l)
            > u128::from(c) * u128::from(w) * (100 + u128::from(p));
        prop_assert_eq!(b.is_exceeded(u128::from(hits), w, p), want);
    }

    /// Any baseline survives its text form; any bytes parse or fail without panic.
    #[test]
    fn baseline_text_round_trip_and_garbage(
        r in 1u64..,
        o in 1u64..,
        junk in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let b = Baseline::new(r, o).expect("valid");
        prop_assert_eq!(Baseline::from_text(&b.to_text()), Ok(b));
        let _ = Baseline::from_bytes(&junk);
        let mut prefixed = b"httptop-baseline v1\n".to_vec();
        prefixed.extend_from_slice(&junk);
        let _ = Baseline::from_bytes(&prefixed);
    }
}

#[test]
fn calls_before_the_due_time_move_the_clock_and_learning_ends_at_its_instant() {
    // Learning 10 s from 0.5 s: ends at 10.5 s, in the middle of a second.
    let mut h = H::learning(cfg(10, 10, 0), 500);
    h.feed(ms(600), 1);
    assert!(h.tick(ms(700)).is_empty());
    assert_eq!(h.m.clock(), ms(700));
    assert!(matches!(h.m.state(), AlertState::Learning(p) if p.elapsed_ns == 200_000_000));
    assert!(h.tick(ms(10_499)).is_empty());
    let ev = h.tick(ms(10_500));
    assert!(
        matches!(ev.as_slice(), [AlertEvent::LearningFinished { at, .. }] if *at == ms(10_500)),
        "{ev:?}"
    );
}
