//! Command-line arguments (clap) and the engine [`Limits`] they set.

use crate::mode::RunMode;
use clap::{Parser, ValueEnum};
use httptop_engine::alert::{AlertConfig, AlertKind};
use httptop_engine::stats::{ClientsBy, StatsConfig};
use httptop_engine::Limits;
use std::path::PathBuf;
use std::time::Duration;

/// How results are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Text blocks every refresh and alert lines (live, --realtime, --demo); the report.
    Plain,
    /// One snapshot object per refresh and the alert events; the report as one document.
    Json,
    /// The full-screen dashboard (live, --realtime, --demo; needs a terminal).
    Tui,
}

/// Which address the clients tables count a request under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ClientsByArg {
    /// The address on the wire (behind a load balancer: the balancer).
    Wire,
    /// The original client: the PROXY protocol header's source, else the first address
    /// of X-Forwarded-For / Forwarded; the wire address when there is none.
    Forwarded,
}

const DEFAULT_WINDOW: Duration = Duration::from_secs(120);
const DEMO_LEARN: Duration = Duration::from_secs(10);
const DEMO_WINDOW: Duration = Duration::from_secs(5);

/// An alert kind on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AlertKindArg {
    Rate,
    Errors,
    Latency,
}

impl AlertKindArg {
    pub fn kind(self) -> AlertKind {
        match self {
            AlertKindArg::Rate => AlertKind::Rate,
            AlertKindArg::Errors => AlertKind::Errors,
            AlertKindArg::Latency => AlertKind::Latency,
        }
    }
}

/// A percentage with up to two decimals (`1`, `0.5`, `2.25%`) as basis points.
fn parse_basis_points(s: &str) -> Result<u32, String> {
    let t = s.trim().trim_end_matches('%');
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let ok = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !ok(whole) || !ok(frac) || frac.len() > 2 {
        return Err("expected a percentage with at most two decimals, e.g. 1 or 0.5".into());
    }
    let w: u32 = whole
        .parse()
        .map_err(|_| "percentage too large".to_string())?;
    let f: u32 = format!("{frac:0<2}").parse().unwrap_or(0);
    if w > 100 || (w == 100 && f > 0) {
        return Err("a share is at most 100%".into());
    }
    Ok(w * 100 + f)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Watch HTTP traffic from the wire: live through libpcap, or from a pcap/pcapng file.
#[derive(Parser, Debug)]
#[command(name = "httptop", version, about, long_about = None)]
pub struct Args {
    /// Capture live on this interface (`any` for all). Default: libpcap's default device.
    #[arg(
        short = 'i',
        long = "interface",
        value_name = "IFACE",
        conflicts_with = "read"
    )]
    pub interface: Option<String>,

    /// Read packets from a pcap or pcapng file (`-` for standard input) instead of capturing.
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    pub read: Option<PathBuf>,

    /// BPF capture filter (live capture only).
    #[arg(
        short = 'f',
        long = "filter",
        value_name = "EXPR",
        default_value = "tcp"
    )]
    pub filter: String,

    /// Bytes captured per packet (live capture only).
    #[arg(long, value_name = "BYTES", default_value_t = 65535)]
    pub snaplen: u32,

    /// Put the interface in promiscuous mode (off by default).
    #[arg(long)]
    pub promisc: bool,

    /// Kernel capture buffer size in MiB (live capture only).
    #[arg(long, value_name = "MIB", default_value_t = 32)]
    pub buffer_mib: u32,

    /// List the interfaces libpcap can capture on, and exit.
    #[arg(short = 'D', long = "list-interfaces")]
    pub list_interfaces: bool,

    /// List every counter httptop keeps (name, unit, Prometheus series, meaning), and exit.
    #[arg(long)]
    pub list_counters: bool,

    /// Write one JSON object per exchange (JSON Lines) to FILE (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// Rotate the `--log` file once it holds this many MiB (FILE becomes FILE.1, FILE.1
    /// becomes FILE.2...). Off by default: the log is reopened on SIGHUP for logrotate.
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..))]
    pub log_max_mib: Option<u64>,

    /// With `--log-max-mib`: old log files kept (FILE.1 to FILE.N, at most 1000).
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub log_keep: u32,

    /// Threads decoding a capture file (`-r`): its connections are spread over them and
    /// their results merged back in capture order, so the log, the alerts and the report
    /// are the same whatever the number. Default 1 (decoding on the reading thread). Each
    /// thread gets an equal share of --max-flows and --max-buffered-bytes.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,

    /// Do not print the end-of-run summary on standard error.
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Maximum concurrent TCP connections tracked (least recently active evicted).
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_flows)]
    pub max_flows: usize,

    /// Seconds without packets after which a connection is closed.
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().flow_idle_timeout_ns / 1_000_000_000)]
    pub flow_timeout: u64,

    /// Maximum bytes kept of any string from the wire (host, path, User-Agent...).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_string_len)]
    pub max_string_len: usize,

    /// Maximum size of a request or response head.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_header_bytes)]
    pub max_header_bytes: usize,

    /// Maximum bytes buffered over all connections at once (out-of-order data, heads
    /// spanning packets, requests waiting for a response); past it the least recently
    /// active connections holding buffers are closed.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_buffered_bytes)]
    pub max_buffered_bytes: usize,

    /// Maximum requests waiting for a response on one connection.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_pending_requests)]
    pub max_pending: usize,

    /// Learning period at start-up: the baseline is the request count over it, scaled to
    /// one window (e.g. 90s, 2m, 1h). Default 2m (10s with --demo).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub learn: Option<Duration>,

    /// Alert window: hits are counted over the last WINDOW every second. Default 2m (5s
    /// with --demo).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub window: Option<Duration>,

    /// Watch built-in synthetic traffic (no capture, no privileges): a quiet period, a
    /// burst, an error episode and a slow episode, each alerting and recovering, in 85 s.
    #[arg(long, conflicts_with_all = ["read", "interface"])]
    pub demo: bool,

    /// Alert when hits exceed the baseline by more than this many percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 10)]
    pub threshold: u32,

    /// Save the learned baselines (rate, errors, latency) to FILE; when FILE exists at
    /// start-up, reuse them and skip their learning (a rate-only file of an older version
    /// is read too: errors and latency are then learned).
    #[arg(long, value_name = "FILE")]
    pub baseline_file: Option<PathBuf>,

    /// Which alerts run: request rate, error rate (share of 5xx and failed gRPC calls),
    /// latency (p95 response time), comma-separated.
    #[arg(
        long,
        value_name = "KINDS",
        value_delimiter = ',',
        default_value = "rate,errors,latency"
    )]
    pub alerts: Vec<AlertKindArg>,

    /// Alert when the window's error share exceeds the learned one by more than this many
    /// percent (100: twice the baseline).
    #[arg(long, value_name = "PERCENT", default_value_t = 100)]
    pub errors_threshold: u32,

    /// ...and exceeds this share in percent, whatever the baseline (so a clean learning
    /// period does not make the first 5xx an alert); up to two decimals.
    #[arg(long, value_name = "PERCENT", default_value = "1", value_parser = parse_basis_points)]
    pub errors_floor: u32,

    /// Alert when the window's p95 response time exceeds the learned one by more than
    /// this many percent (100: twice the baseline).
    #[arg(long, value_name = "PERCENT", default_value_t = 100)]
    pub latency_threshold: u32,

    /// Errors and latency are not evaluated on fewer responses in the window (so one
    /// error in two requests pages no one); an active alert recovers.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub min_responses: u64,

    /// Also evaluate errors and latency per server (Host, else ip:port), at most
    /// --alert-servers of them: those with current traffic.
    #[arg(long)]
    pub alert_per_server: bool,

    /// Servers watched at most by --alert-per-server.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub alert_servers: usize,

    /// How long statistics and alert history are kept.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "24h")]
    pub retention: Duration,

    /// Entries shown per top table.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,

    /// Distinct keys kept per statistics table (heavy hitters kept past it).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_keys: usize,

    /// Count clients by their `wire` address, or by the `forwarded` original client (PROXY
    /// protocol header, else X-Forwarded-For / Forwarded; the wire address without them).
    #[arg(long, value_enum, value_name = "BY", default_value = "wire")]
    pub clients_by: ClientsByArg,

    /// `tui` (the default for live capture, --realtime and --demo when standard output is
    /// a terminal), `plain` (otherwise) or `json`. With `--log -` text output goes to
    /// standard error.
    #[arg(long, value_enum)]
    pub output: Option<OutputFormat>,

    /// Replay `-r FILE` at the pace of its timestamps (with periodic output and alert
    /// lines, like a live capture) instead of as fast as possible.
    #[arg(long, requires = "read")]
    pub realtime: bool,

    /// With `--realtime` or `--demo`: N times faster than the traffic's own pace.
    #[arg(long, value_name = "N", default_value_t = 1.0)]
    pub speed: f64,

    /// Periodic output interval (live capture and `--realtime`).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "1s")]
    pub refresh: Duration,

    /// Once the capture is open, become this user (default when started as root:
    /// `nobody`) with no capabilities left. Only root can switch users.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,

    /// Do not restrict the process with Landlock after dropping privileges (by default:
    /// filesystem read-only beneath /etc, /usr and a few others, nothing written or created
    /// except through files already open, no new listening TCP port).
    #[arg(long)]
    pub no_sandbox: bool,

    /// Also read HTTPS in plaintext where processes hand it to OpenSSL (eBPF uprobes on
    /// the host's shared libssl; needs root, a kernel with BTF). With `-i` beside the
    /// capture; alone, no packets are captured.
    #[arg(long, conflicts_with_all = ["read", "demo"])]
    pub tls_plaintext: bool,

    /// A libssl to probe besides the ones the dynamic linker finds (repeatable).
    #[arg(long, value_name = "PATH", requires = "tls_plaintext")]
    pub libssl: Vec<PathBuf>,

    /// Read TLS plaintext of this process only.
    #[arg(long, value_name = "PID", requires = "tls_plaintext")]
    pub pid: Option<u32>,

    /// Maximum out-of-order bytes buffered per connection direction.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_reasm_bytes)]
    pub max_reasm_bytes: usize,

    /// Fleet options (Prometheus exporter, Alertmanager); see docs/fleet.md.
    #[command(flatten)]
    pub fleet: FleetArgs,

    /// Read settings from this TOML file (every long option is a key). Default:
    /// /etc/httptop/httptop.toml when it exists. Environment variables `HTTPTOP_<OPTION>`
    /// override the file; flags override both.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print the effective configuration as TOML, with where each value came from, and
    /// exit.
    #[arg(long)]
    pub print_config: bool,

    /// Write the man page or a shell's completions to standard output, and exit
    /// (scripts/gen-assets).
    #[arg(long, value_enum, value_name = "KIND", hide = true)]
    pub generate: Option<crate::generate::Generate>,
}

/// `--metrics-addr`, `--alertmanager`, `--instance`, `--linger`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FleetArgs {
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9184). Off by
    /// default.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// Post alerts to this Alertmanager (e.g. http://127.0.0.1:9093) when they start,
    /// while they fire, and when they resolve.
    #[arg(long, value_name = "URL")]
    pub alertmanager: Option<String>,

    /// The `instance` label of alerts. Default: the host name.
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,

    /// After a replay (`-r`) or the demo ends, keep serving the final metrics and
    /// delivering alerts for DURATION, or until SIGINT/SIGTERM.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub linger: Option<Duration>,
}

impl FleetArgs {
    /// Whether anything fleet-related runs.
    pub fn enabled(&self) -> bool {
        self.metrics_addr.is_some() || self.alertmanager.is_some()
    }
}

impl Args {
    /// The output mode in `mode`: as asked, else the dashboard when it can run, else
    /// plain text (see [`RunMode::output_format`]).
    pub fn output_format(&self, mode: &RunMode) -> OutputFormat {
        use std::io::IsTerminal;
        let log_on_stdout = self.log.as_ref().is_some_and(|p| p.as_os_str() == "-");
        mode.output_format(self.output, log_on_stdout, std::io::stdout().is_terminal())
    }

    pub fn stats_config(&self) -> StatsConfig {
        StatsConfig {
            top: self.top.max(1),
            max_keys: self.max_keys.max(1),
            retention_ns: nanos(self.retention),
            clients_by: match self.clients_by {
                ClientsByArg::Wire => ClientsBy::Wire,
                ClientsByArg::Forwarded => ClientsBy::Forwarded,
            },
            ..StatsConfig::default()
        }
    }

    pub fn alert_config(&self) -> AlertConfig {
        AlertConfig {
            learn_ns: nanos(self.learn.unwrap_or(if self.demo {
                DEMO_LEARN
            } else {
                DEFAULT_WINDOW
            })),
            window_ns: nanos(self.window.unwrap_or(if self.demo {
                DEMO_WINDOW
            } else {
                DEFAULT_WINDOW
            })),
            threshold_pct: self.threshold,
            kinds: AlertKind::ALL.map(|k| self.alerts.iter().any(|a| a.kind() == k)),
            errors_threshold_pct: self.errors_threshold,
            errors_floor_bp: self.errors_floor,
            latency_threshold_pct: self.latency_threshold,
            min_responses: self.min_responses,
            per_server: self.alert_per_server,
            max_servers: self.alert_servers,
            retention_ns: nanos(self.retention),
            refresh_ns: nanos(self.refresh),
            ..AlertConfig::default()
        }
    }

    pub fn limits(&self) -> Limits {
        Limits {
            max_flows: self.max_flows.max(1),
            flow_idle_timeout_ns: self.flow_timeout.max(1).saturating_mul(1_000_000_000),
            max_string_len: self.max_string_len,
            max_header_bytes: self.max_header_bytes.max(64),
            max_pending_requests: self.max_pending.max(1),
            max_reasm_bytes: self.max_reasm_bytes,
            max_buffered_bytes: self.max_buffered_bytes,
            ..Limits::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let a = Args::parse_from(["httptop", "-r", "x.pcap"]);
        assert_eq!(a.filter, "tcp");
        assert_eq!(a.snaplen, 65535);
        assert!(!a.promisc);
        assert_eq!(a.limits(), Limits::default());
        let c = a.alert_config();
        let d = AlertConfig::default();
        assert_eq!(
            (c.learn_ns, c.window_ns, c.threshold_pct, c.retention_ns),
            (d.learn_ns, d.window_ns, d.threshold_pct, d.retention_ns)
        );
        assert_eq!(
            a.output_format(&RunMode::from_args(&a)),
            OutputFormat::Plain,
            "a file without --realtime"
        );
        assert_eq!((a.top, a.max_keys), (10, 10_000));
        assert_eq!(a.stats_config().clients_by, ClientsBy::Wire);
        let f = Args::parse_from(["httptop", "-r", "x", "--clients-by", "forwarded"]);
        assert_eq!(f.stats_config().clients_by, ClientsBy::Forwarded);
        assert!(Args::try_parse_from(["httptop", "--clients-by", "x"]).is_err());
        assert_eq!(
            (c.kinds, c.errors_floor_bp, c.min_responses, c.per_server),
            (d.kinds, d.errors_floor_bp, d.min_responses, d.per_server)
        );
        let k = Args::parse_from([
            "httptop",
            "--alerts",
            "errors,latency",
            "--errors-floor",
            "0.5%",
        ]);
        assert_eq!(k.alert_config().kinds, [false, true, true]);
        assert_eq!(k.alert_config().errors_floor_bp, 50);
        for bad in ["x", "1.234", "101", "-1", ""] {
            assert!(parse_basis_points(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_basis_points("2.25"), Ok(225));
    }

    #[test]
    fn fleet_flags() {
        let a = Args::parse_from(["httptop", "-r", "x"]);
        assert!(!a.fleet.enabled());
        let a = Args::parse_from([
            "httptop",
            "-r",
            "x",
            "--metrics-addr",
            "127.0.0.1:9184",
            "--alertmanager",
            "http://127.0.0.1:9093",
            "--instance",
            "web1",
            "--linger",
            "30s",
        ]);
        assert!(a.fleet.enabled());
        assert_eq!(a.fleet.metrics_addr, "127.0.0.1:9184".parse().ok());
        assert_eq!(a.fleet.instance.as_deref(), Some("web1"));
        assert_eq!(a.fleet.linger, Some(Duration::from_secs(30)));
        assert!(Args::try_parse_from(["httptop", "--metrics-addr", "localhost"]).is_err());
    }

    #[test]
    fn interface_and_read_conflict() {
        assert!(Args::try_parse_from(["httptop", "-r", "x", "-i", "lo"]).is_err());
    }
}
