//! The run mode, decided once from the arguments: every later decision (watching or
//! not, periodic output, the dashboard, pacing, the source's name, the filter shown,
//! how often the clock is read) matches on it instead of re-reading flags.

use crate::args::{Args, OutputFormat};
use std::path::PathBuf;
use std::time::Duration;

/// What this run reads and at which pace.
#[derive(Clone, Debug, PartialEq)]
pub enum RunMode {
    /// Live capture through libpcap.
    Live {
        /// `None`: libpcap's default device.
        interface: Option<String>,
        filter: String,
    },
    /// A capture file (or `-`, standard input) read as fast as possible.
    File { path: PathBuf },
    /// A capture file replayed at `speed` times the pace of its timestamps (`--realtime`).
    Replay { path: PathBuf, speed: f64 },
    /// Built-in synthetic traffic at `speed` times its own pace.
    Demo { speed: f64 },
}

impl RunMode {
    pub fn from_args(args: &Args) -> RunMode {
        // A speed that cannot pace anything is the traffic's own pace.
        let speed = if args.speed.is_finite() && args.speed > 0.0 {
            args.speed
        } else {
            1.0
        };
        match &args.read {
            _ if args.demo => RunMode::Demo { speed },
            Some(path) if args.realtime => RunMode::Replay {
                path: path.clone(),
                speed,
            },
            Some(path) => RunMode::File { path: path.clone() },
            None => RunMode::Live {
                interface: args.interface.clone(),
                filter: args.filter.clone(),
            },
        }
    }

    /// Someone watches as it happens: periodic output or the dashboard, alert lines.
    pub fn watching(&self) -> bool {
        !matches!(self, RunMode::File { .. })
    }

    /// Frames handed over at this many times the pace of their timestamps.
    pub fn pace(&self) -> Option<f64> {
        match self {
            RunMode::Replay { speed, .. } | RunMode::Demo { speed } => Some(*speed),
            RunMode::Live { .. } | RunMode::File { .. } => None,
        }
    }

    /// The output mode: as asked, else the dashboard when it can run, else plain text.
    pub fn output_format(
        &self,
        asked: Option<OutputFormat>,
        log_on_stdout: bool,
        stdout_is_terminal: bool,
    ) -> OutputFormat {
        match asked {
            Some(OutputFormat::Tui) if !self.watching() => OutputFormat::Plain,
            Some(f) => f,
            None if self.watching() && !log_on_stdout && stdout_is_terminal => OutputFormat::Tui,
            None => OutputFormat::Plain,
        }
    }

    /// The source as the user named it.
    pub fn source_name(&self) -> String {
        match self {
            RunMode::Demo { .. } => "demo (synthetic traffic)".into(),
            RunMode::File { path } | RunMode::Replay { path, .. } => path.display().to_string(),
            RunMode::Live { interface, .. } => {
                interface.clone().unwrap_or_else(|| "default device".into())
            }
        }
    }

    /// The capture filter to show (live capture only).
    pub fn filter(&self) -> Option<&str> {
        match self {
            RunMode::Live { filter, .. } => Some(filter),
            _ => None,
        }
    }

    /// How many refresh calls between two looks at the clock: a file read as fast as
    /// possible refreshes per packet, so it reads the clock every 4096 packets only;
    /// the other loops come back at most every 50 ms.
    pub fn clock_every(&self) -> u32 {
        match self {
            RunMode::File { .. } => 4096,
            _ => 1,
        }
    }
}

/// The shortest refresh interval: faster refreshes cost snapshots, not information.
pub const MIN_REFRESH: Duration = Duration::from_millis(100);

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn mode(argv: &[&str]) -> RunMode {
        let mut v = vec!["httptop"];
        v.extend_from_slice(argv);
        RunMode::from_args(&Args::parse_from(v))
    }

    #[test]
    fn each_mode_from_its_flags() {
        assert_eq!(
            mode(&["-i", "eth0", "-f", "tcp port 80"]),
            RunMode::Live {
                interface: Some("eth0".into()),
                filter: "tcp port 80".into()
            }
        );
        assert_eq!(
            mode(&[]),
            RunMode::Live {
                interface: None,
                filter: "tcp".into()
            }
        );
        assert_eq!(
            mode(&["-r", "x.pcap"]),
            RunMode::File {
                path: "x.pcap".into()
            }
        );
        assert_eq!(
            mode(&["-r", "-", "--realtime", "--speed", "20"]),
            RunMode::Replay {
                path: "-".into(),
                speed: 20.0
            }
        );
        assert_eq!(mode(&["--demo"]), RunMode::Demo { speed: 1.0 });
        assert_eq!(
            mode(&["--demo", "--speed", "0"]),
            RunMode::Demo { speed: 1.0 },
            "a speed that cannot pace is the traffic's own"
        );
        assert_eq!(
            mode(&["--demo", "--speed", "NaN"]),
            RunMode::Demo { speed: 1.0 }
        );
    }

    #[test]
    fn decisions_follow_the_mode() {
        let live = mode(&["-i", "lo"]);
        let file = mode(&["-r", "x.pcap"]);
        let replay = mode(&["-r", "x.pcap", "--realtime", "--speed", "2"]);
        let demo = mode(&["--demo", "--speed", "10"]);
        let all = [&live, &file, &replay, &demo];
        let each = |f: &dyn Fn(&RunMode) -> String| all.map(f).join("|");
        assert_eq!(each(&|m| m.watching().to_string()), "true|false|true|true");
        assert_eq!(
            each(&|m| format!("{:?}", m.pace())),
            "None|None|Some(2.0)|Some(10.0)"
        );
        assert_eq!(
            each(&|m| m.source_name()),
            "lo|x.pcap|x.pcap|demo (synthetic traffic)"
        );
        assert_eq!(
            each(&|m| format!("{:?}", m.filter())),
            "Some(\"tcp\")|None|None|None"
        );
        assert_eq!(each(&|m| m.clock_every().to_string()), "1|4096|1|1");
    }

    #[test]
    fn the_dashboard_only_when_watching_on_a_terminal() {
        use OutputFormat::*;
        let file = mode(&["-r", "x.pcap"]);
        let live = mode(&["-i", "lo"]);
        assert_eq!(file.output_format(None, false, true), Plain);
        assert_eq!(file.output_format(Some(Tui), false, true), Plain);
        assert_eq!(file.output_format(Some(Json), false, true), Json);
        assert_eq!(live.output_format(None, false, true), Tui);
        assert_eq!(live.output_format(None, true, true), Plain, "--log -");
        assert_eq!(live.output_format(None, false, false), Plain, "a pipe");
        assert_eq!(live.output_format(Some(Tui), false, false), Tui);
    }
}
