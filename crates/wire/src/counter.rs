//! The counter registry: every counter httptop keeps is declared once, with its name,
//! help text and unit, by the [`counters!`](crate::counters) macro beside the code that
//! increments it.
//!
//! Contract:
//! - A declaration generates the struct (plain `u64` fields, so incrementing stays one
//!   addition on the hot path) and a `const DESCRIPTORS` list in field order; `values()`
//!   reads the fields in that same order, so a descriptor and its value cannot drift apart.
//! - Presenters never name a counter: they iterate [`Sample`]s (a descriptor, an optional
//!   scope label such as `table="hosts"`, a value) in registry order and print what they
//!   get. Adding a counter is one line in its declaration; every output shows it.
//! - Names are stable: a counter's `key` is its JSON key and the last part of its full
//!   name (`group.key`); its Prometheus series is [`Descriptor::family`] plus the labels.
//!
//! The module lives in the lowest crate so that the engine, the capture sources and the
//! presenters share one descriptor type without a new crate in the graph.

use std::borrow::Cow;

/// What a counter counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unit {
    Frames,
    Bytes,
    Segments,
    Connections,
    Requests,
    Responses,
    Messages,
    Exchanges,
    Keys,
    Blocks,
    Events,
}

impl Unit {
    /// The unit as a lowercase plural noun.
    pub const fn name(self) -> &'static str {
        match self {
            Unit::Frames => "frames",
            Unit::Bytes => "bytes",
            Unit::Segments => "segments",
            Unit::Connections => "connections",
            Unit::Requests => "requests",
            Unit::Responses => "responses",
            Unit::Messages => "messages",
            Unit::Exchanges => "exchanges",
            Unit::Keys => "keys",
            Unit::Blocks => "blocks",
            Unit::Events => "events",
        }
    }
}

/// Where a counter comes from; presenters list groups in [`Group::ALL`] order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Group {
    /// The capture source: file reader statistics, or the kernel's live counters.
    Capture,
    /// Frames through the decoder.
    Packets,
    /// Undecodable frames, by kind.
    Decode,
    /// The connection table.
    Flows,
    /// TCP reassembly.
    Reassembly,
    /// The HTTP/1 analyzer.
    Http,
    /// The statistics tables.
    Statistics,
}

impl Group {
    pub const ALL: [Group; 7] = [
        Group::Capture,
        Group::Packets,
        Group::Decode,
        Group::Flows,
        Group::Reassembly,
        Group::Http,
        Group::Statistics,
    ];

    /// The first part of a counter's full name (`http.requests`).
    pub const fn key(self) -> &'static str {
        match self {
            Group::Capture => "capture",
            Group::Packets => "packets",
            Group::Decode => "decode",
            Group::Flows => "flows",
            Group::Reassembly => "reasm",
            Group::Http => "http",
            Group::Statistics => "stats",
        }
    }

    /// The object holding the group's counters in the JSON report (`None`: directly in
    /// `counters`, as the engine's own counters always were).
    pub const fn json_key(self) -> Option<&'static str> {
        match self {
            Group::Packets | Group::Flows => None,
            g => Some(g.key()),
        }
    }

    /// The heading shown to people.
    pub const fn title(self) -> &'static str {
        match self {
            Group::Capture => "capture source",
            Group::Packets => "packets",
            Group::Decode => "decode errors",
            Group::Flows => "connections",
            Group::Reassembly => "reassembly",
            Group::Http => "HTTP",
            Group::Statistics => "statistics",
        }
    }

    /// What a Prometheus family name starts with, unless the declaration names it.
    const fn metric_prefix(self) -> &'static str {
        match self {
            Group::Capture => "capture_",
            Group::Packets | Group::Flows => "",
            Group::Decode => "decode_",
            Group::Reassembly => "reassembly_",
            Group::Http => "http_",
            Group::Statistics => "stats_",
        }
    }
}

/// One registered counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub group: Group,
    /// The field name: unique within its group, the JSON key.
    pub name: &'static str,
    /// One sentence for people (the field's doc comment).
    pub help: &'static str,
    pub unit: Unit,
    /// Prometheus family (without `httptop_` and `_total`) when the declaration names one;
    /// otherwise the group prefix and `name`.
    pub metric: Option<&'static str>,
    /// A label that tells this counter apart inside a shared family (`kind="bad_chunk"`).
    pub label: Option<(&'static str, &'static str)>,
    /// Counted in the dashboard's headline "anomalies" figure.
    pub anomaly: bool,
}

impl Descriptor {
    /// The Prometheus family, without `httptop_` and `_total`.
    pub fn family(&self) -> Cow<'static, str> {
        match self.metric {
            Some(m) => Cow::Borrowed(m),
            None => Cow::Owned(format!("{}{}", self.group.metric_prefix(), self.name)),
        }
    }
}

/// A counter's value, as presenters get it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub desc: &'static Descriptor,
    /// For a counter kept once per instance of something (one per statistics table):
    /// the label name and value, e.g. `("table", "hosts")`.
    pub scope: Option<(&'static str, &'static str)>,
    pub value: u64,
}

impl Sample {
    /// The key within its group: the descriptor's name, prefixed by the scope value
    /// (`hosts_evicted`).
    pub fn key(&self) -> Cow<'static, str> {
        match self.scope {
            None => Cow::Borrowed(self.desc.name),
            Some((_, v)) => Cow::Owned(format!("{v}_{}", self.desc.name)),
        }
    }

    /// `group.key`, unique over the registry (`http.requests`, `stats.hosts_evicted`).
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.desc.group.key(), self.key())
    }
}

/// Samples of `descriptors` paired with `values` (same order), each in `scope`.
pub fn samples<const N: usize>(
    descriptors: &'static [Descriptor; N],
    values: [u64; N],
    scope: Option<(&'static str, &'static str)>,
) -> impl Iterator<Item = Sample> {
    descriptors
        .iter()
        .zip(values)
        .map(move |(desc, value)| Sample { desc, scope, value })
}

/// Help text from a doc comment: each `///` line starts with a space.
#[doc(hidden)]
pub const fn __help(s: &'static str) -> &'static str {
    s.trim_ascii()
}

/// Families that gather several counters under a label, with their help text (a
/// family of one counter takes the counter's own help).
pub const FAMILIES: &[(&str, &str)] = &[
    (
        "anomalies",
        "Anomalies in the traffic or the capture, by kind.",
    ),
    (
        "truncations",
        "Data cut at a limit, by kind: strings (--max-string-len), heads (--max-header-bytes), header fields (over --max-headers).",
    ),
    (
        "decode_errors",
        "Frames that could not be decoded as far as their TCP header, by kind.",
    ),
    (
        "kernel_drops",
        "Packets dropped before httptop read them (live capture), by where.",
    ),
];

/// Declares a struct of `u64` counters and its descriptors, in one place.
///
/// ```
/// httptop_wire::counters! {
///     /// Example counters.
///     #[derive(Clone, Debug, Default)]
///     pub struct Example {
///         [Http]
///         /// Request lines recognised.
///         requests: Requests,
///         /// Request lines that did not parse.
///         malformed_requests: Requests anomaly => "anomalies" { kind = "malformed_request" },
///         [Reassembly]
///         /// Bytes declared lost.
///         gap_bytes: Bytes,
///     } extra {
///         /// Not a counter: copied as written.
///         pub truncated: bool,
///     }
/// }
/// let e = Example { requests: 3, ..Example::default() };
/// assert_eq!(Example::DESCRIPTORS[0].help, "Request lines recognised.");
/// assert_eq!(e.values(), [3, 0, 0]);
/// assert_eq!(Example::DESCRIPTORS[2].family(), "reassembly_gap_bytes");
/// ```
///
/// Each field: its doc comment (the help text), `name: Unit`, optionally `anomaly`
/// (counted in the dashboard's anomaly figure), optionally `=> "family"` (the Prometheus
/// family, to keep a published name) with an optional `{ label = "value" }`. `[Group]`
/// starts the fields of a [`Group`]. `extra { ... }` holds fields that are not counters
/// (nested counter structs, flags), copied as written.
#[macro_export]
macro_rules! counters {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                [$group:ident]
                $(
                    $(#[doc = $doc:literal])*
                    $field:ident : $unit:ident $($flag:ident)?
                        $(=> $family:literal $({ $lk:ident = $lv:literal })?)?
                ),* $(,)?
            )*
        } $(extra {
            $( $(#[$xmeta:meta])* $xvis:vis $xfield:ident : $xty:ty ),* $(,)?
        })?
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $($(
                $(#[doc = $doc])*
                pub $field: u64,
            )*)*
            $($( $(#[$xmeta])* $xvis $xfield: $xty, )*)?
        }

        impl $name {
            /// Number of counters declared in this struct.
            pub const COUNT: usize = [$($(stringify!($field)),*),*].len();

            /// Every counter of this struct, in declaration order.
            pub const DESCRIPTORS: [$crate::counter::Descriptor; Self::COUNT] = [
                $($(
                    $crate::counter::Descriptor {
                        group: $crate::counter::Group::$group,
                        name: stringify!($field),
                        help: $crate::counter::__help(concat!($($doc),*)),
                        unit: $crate::counter::Unit::$unit,
                        metric: $crate::__counter_metric!($($family)?),
                        label: $crate::__counter_label!($($($lk = $lv)?)?),
                        anomaly: $crate::__counter_flag!($($flag)?),
                    },
                )*)*
            ];

            /// The values, in [`Self::DESCRIPTORS`] order.
            pub fn values(&self) -> [u64; Self::COUNT] {
                [$($(self.$field),*),*]
            }

            /// The fields, in [`Self::DESCRIPTORS`] order, to set (tests, merging).
            pub fn values_mut(&mut self) -> [&mut u64; Self::COUNT] {
                [$($(&mut self.$field),*),*]
            }

            /// The counters with their descriptors.
            pub fn samples(&self) -> impl Iterator<Item = $crate::counter::Sample> {
                $crate::counter::samples(&Self::DESCRIPTORS, self.values(), None)
            }

            /// Same, every sample labelled with `scope` (`("table", "hosts")`).
            pub fn samples_in(
                &self,
                scope: (&'static str, &'static str),
            ) -> impl Iterator<Item = $crate::counter::Sample> {
                $crate::counter::samples(&Self::DESCRIPTORS, self.values(), Some(scope))
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __counter_metric {
    () => {
        None
    };
    ($f:literal) => {
        Some($f)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __counter_label {
    () => {
        None
    };
    ($k:ident = $v:literal) => {
        Some((stringify!($k), $v))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __counter_flag {
    () => {
        false
    };
    (anomaly) => {
        true
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::counters! {
        #[derive(Clone, Debug, Default)]
        struct Two {
            [Http]
            /// First
            /// line.
            a: Requests,
            b: Bytes anomaly => "anomalies" { kind = "b_kind" },
            [Statistics]
            /// Third.
            c: Keys => "stats_c",
        } extra {
            flag: bool,
        }
    }

    #[test]
    fn declaration_gives_descriptors_in_field_order() {
        let t = Two {
            a: 1,
            b: 2,
            c: 3,
            flag: true,
        };
        assert!(t.flag);
        assert_eq!(Two::COUNT, 3);
        assert_eq!(t.values(), [1, 2, 3]);
        let mut u = t.clone();
        for v in u.values_mut() {
            *v *= 10;
        }
        assert_eq!(u.values(), [10, 20, 30]);
        let d = &Two::DESCRIPTORS;
        assert_eq!(d[0].help, "First line.");
        assert_eq!((d[0].group, d[0].unit), (Group::Http, Unit::Requests));
        assert_eq!(d[0].family(), "http_a");
        assert!(!d[0].anomaly && d[1].anomaly);
        assert_eq!(d[1].label, Some(("kind", "b_kind")));
        assert_eq!(d[1].help, "");
        assert_eq!(
            (d[2].group, d[2].family()),
            (Group::Statistics, "stats_c".into())
        );
        assert_eq!(t.samples().map(|s| s.value).sum::<u64>(), 6);
        let s: Vec<_> = t.samples_in(("table", "hosts")).collect();
        assert_eq!(s[2].key(), "hosts_c");
        assert_eq!(s[2].full_name(), "stats.hosts_c");
        assert_eq!(s[1].value, 2);
    }

    #[test]
    fn every_shared_family_has_help() {
        let names: std::collections::HashSet<_> = FAMILIES.iter().map(|f| f.0).collect();
        assert_eq!(names.len(), FAMILIES.len());
        assert!(FAMILIES.iter().all(|f| !f.1.is_empty()));
    }
}
