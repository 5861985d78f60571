//! The engine's part of the counter registry, in the order presenters list it.
//!
//! Contract: [`samples`] yields every counter the engine and the statistics keep, each
//! once, grouped as [`httptop_wire::counter::Group::ALL`] orders them (the capture
//! source's counters come from the caller: see [`crate::snapshot::Snapshot::counters`]).
//! The counters themselves are declared with `httptop_wire::counters!` beside the code
//! that increments them (`Counters` in `engine.rs`, `EncapCounters` in the wire crate,
//! `FragCounters` in `ipfrag.rs`, `ReasmCounters` in `reasm.rs`,
//! `HttpCounters` in `http/mod.rs`, `PrefaceCounters` in `preface/mod.rs`,
//! `Http2Counters` in `http2/mod.rs`,
//! `WebSocketCounters` in `websocket/mod.rs`, `PlainCounters` in `plain.rs`,
//! `StatsCounters` and `TableCounters` in `stats/`);
//! this module only chains the structs. A new counter in one of them needs nothing here.

use crate::engine::Counters;
use crate::stats::{StatsCounters, TableCounters};
use httptop_wire::counter::{Group, Sample};

/// Every engine and statistics counter.
pub fn samples<'a>(c: &'a Counters, s: &'a StatsCounters) -> impl Iterator<Item = Sample> + 'a {
    // Counters holds the packets group then the flows group; decode errors by kind go
    // between them.
    let own = move |g: Group| c.samples().filter(move |x| x.desc.group == g);
    own(Group::Packets)
        .chain(c.encap.samples())
        .chain(c.frag.samples())
        .chain(c.decode.samples())
        .chain(own(Group::Flows))
        .chain(c.plain.samples())
        .chain(c.reasm.samples())
        .chain(c.http.samples())
        .chain(c.preface.samples())
        .chain(c.h2.samples())
        .chain(c.websocket.samples())
        .chain(c.tls.samples())
        .chain(s.samples())
        .chain(
            tables(s)
                .into_iter()
                .flat_map(|(name, t)| t.samples_in(("table", name))),
        )
}

/// `source` (the capture source's counters) then [`samples`]: the whole registry of a
/// run, as every presenter lists it.
pub fn with_source<'a>(
    source: &'a [Sample],
    c: &'a Counters,
    s: &'a StatsCounters,
) -> impl Iterator<Item = Sample> + 'a {
    source.iter().copied().chain(samples(c, s))
}

/// The statistics tables' counters, by table name.
pub fn tables(s: &StatsCounters) -> [(&'static str, &TableCounters); 7] {
    [
        ("sections", &s.sections),
        ("hosts", &s.hosts),
        ("user_agents", &s.user_agents),
        ("methods", &s.methods),
        ("clients", &s.clients),
        ("latency", &s.latency),
        ("grpc", &s.grpc),
    ]
}

/// Every registered counter of the engine (values zero): the registry as `--list-counters`
/// prints it.
pub fn registry() -> Vec<Sample> {
    samples(&Counters::default(), &StatsCounters::default()).collect()
}

/// Sets every counter (and every Protocols cell) to a distinct value from `first` up,
/// in registry order; returns the next unused value. For tests that check every counter
/// reaches an output.
#[doc(hidden)]
pub fn fill_distinct(c: &mut Counters, s: &mut StatsCounters, first: u64) -> u64 {
    let mut n = first;
    let mut set = |v: &mut u64| {
        *v = n;
        n += 1;
    };
    each_counter_mut(c, &mut set);
    s.values_mut().into_iter().for_each(&mut set);
    for t in [
        &mut s.sections,
        &mut s.hosts,
        &mut s.user_agents,
        &mut s.methods,
        &mut s.clients,
        &mut s.latency,
        &mut s.grpc,
    ] {
        t.values_mut().into_iter().for_each(&mut set);
    }
    each_protocol_mut(c, &mut set);
    n
}

/// Every counter of `c` (Protocols cells too), each once, in a fixed order.
pub(crate) fn each_mut(c: &mut Counters, set: &mut dyn FnMut(&mut u64)) {
    each_counter_mut(c, set);
    each_protocol_mut(c, set);
}

/// The values [`each_mut`] visits, in its order.
pub(crate) fn each_value(c: &Counters, f: &mut dyn FnMut(u64)) {
    let mut c = c.clone();
    each_mut(&mut c, &mut |v| f(*v));
}

/// Every counter of `c` but the Protocols cells, in registry order.
fn each_counter_mut(c: &mut Counters, set: &mut dyn FnMut(&mut u64)) {
    // Same order as `samples`: Counters' packets group, decode errors, its flows group.
    let own = |c: &mut Counters, packets: bool, set: &mut dyn FnMut(&mut u64)| {
        for (d, v) in Counters::DESCRIPTORS.iter().zip(c.values_mut()) {
            if (d.group == Group::Packets) == packets {
                set(v);
            }
        }
    };
    own(c, true, set);
    c.encap.values_mut().into_iter().for_each(&mut *set);
    c.frag.values_mut().into_iter().for_each(&mut *set);
    c.decode.values_mut().for_each(&mut *set);
    own(c, false, set);
    c.plain.values_mut().into_iter().for_each(&mut *set);
    c.reasm.values_mut().into_iter().for_each(&mut *set);
    c.http.values_mut().into_iter().for_each(&mut *set);
    c.preface.values_mut().into_iter().for_each(&mut *set);
    c.h2.values_mut().into_iter().for_each(&mut *set);
    c.websocket.values_mut().into_iter().for_each(&mut *set);
    c.tls.values_mut().into_iter().for_each(&mut *set);
}

/// The Protocols cells of `c`.
fn each_protocol_mut(c: &mut Counters, set: &mut dyn FnMut(&mut u64)) {
    for p in crate::Protocol::ALL {
        let x = c.protocols.get_mut(p);
        for v in [
            &mut x.connections,
            &mut x.requests,
            &mut x.bytes_to_server,
            &mut x.bytes_to_client,
        ] {
            set(v);
        }
    }
}

/// A fresh monitor's snapshot (default configuration) with every engine counter and
/// Protocols cell set by [`fill_distinct`] from `first`. For presenter tests.
#[doc(hidden)]
pub fn filled_snapshot(first: u64) -> crate::snapshot::Snapshot {
    let mut snap = crate::Monitor::new(crate::MonitorConfig {
        limits: Default::default(),
        alert: Default::default(),
        baseline: None,
        errors_baseline: None,
        latency_baseline: None,
        stats: Default::default(),
    })
    .map(|m| m.snapshot(httptop_wire::Timestamp::from_secs(100)))
    .unwrap_or_else(|e| panic!("default configuration rejected: {e}"));
    fill_distinct(&mut snap.counters, &mut snap.stats_counters, first);
    snap
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_grouped_in_order_and_names_are_unique() {
        let r = registry();
        let groups: Vec<Group> = r.iter().map(|s| s.desc.group).collect();
        let mut sorted = groups.clone();
        sorted.sort();
        assert_eq!(groups, sorted, "samples come group by group");
        let names: std::collections::HashSet<String> = r.iter().map(Sample::full_name).collect();
        assert_eq!(names.len(), r.len());
        // Labelled and scoped series are told apart within their family too.
        let series: std::collections::HashSet<_> = r
            .iter()
            .map(|s| (s.desc.family(), s.desc.label, s.scope))
            .collect();
        assert_eq!(series.len(), r.len());
        for s in &r {
            assert!(!s.desc.help.is_empty(), "{} has no help", s.full_name());
            if s.desc.unit == httptop_wire::counter::Unit::Bytes && s.desc.label.is_none() {
                assert!(s.desc.family().ends_with("bytes"), "{}", s.desc.family());
            }
        }
    }

    #[test]
    fn fill_distinct_sets_every_counter_in_registry_order() {
        let (mut c, mut s) = (Counters::default(), StatsCounters::default());
        let end = fill_distinct(&mut c, &mut s, 1);
        let values: Vec<u64> = samples(&c, &s).map(|x| x.value).collect();
        assert_eq!(values, (1..=values.len() as u64).collect::<Vec<_>>());
        assert_eq!(
            end,
            values.len() as u64 + 1 + 4 * crate::Protocol::COUNT as u64
        );
    }

    #[test]
    fn a_counter_reaches_the_samples_with_its_value() {
        let mut c = Counters::default();
        c.http.bad_chunk = 7;
        c.decode
            .count(&httptop_wire::DecodeError::TooManyExtensionHeaders);
        let mut s = StatsCounters::default();
        s.hosts.evicted = 3;
        let got: Vec<(String, u64)> = samples(&c, &s)
            .filter(|x| x.value > 0)
            .map(|x| (x.full_name(), x.value))
            .collect();
        assert_eq!(
            got,
            [
                ("decode.too_many_extension_headers".to_string(), 1),
                ("http.bad_chunk".to_string(), 7),
                ("stats.hosts_evicted".to_string(), 3),
            ]
        );
    }

    #[test]
    fn the_engine_counts_decode_errors_by_kind() {
        use httptop_wire::{DecodeError, Frame, Layer, LinkType, Timestamp};
        let mut e = crate::Engine::new(crate::Limits::default());
        let mut sink = |_: &crate::Exchange| {};
        let frames: [(LinkType, &[u8]); 3] = [
            (LinkType::ETHERNET, &[0u8; 5]),
            (LinkType::ETHERNET, &[0u8; 9]),
            (LinkType(147), &[0u8; 40]),
        ];
        for (linktype, data) in frames {
            let f = Frame {
                ts: Timestamp::from_secs(1),
                linktype,
                orig_len: data.len() as u32,
                data,
            };
            e.on_frame(&f, &mut sink);
        }
        let c = e.counters();
        let truncated = DecodeError::Truncated {
            layer: Layer::Ethernet,
        };
        assert_eq!(c.decode.get(&truncated), 2);
        assert_eq!(c.decode.get(&DecodeError::UnsupportedLinkType(0)), 1);
        assert_eq!((c.decode_errors, c.unsupported_linktype), (2, 1));
        let by_kind: u64 = c.decode.samples().map(|s| s.value).sum();
        assert_eq!(by_kind, c.decode_errors + c.unsupported_linktype);
    }
}
