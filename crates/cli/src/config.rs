//! Configuration layers: a TOML file, `HTTPTOP_<OPTION>` environment variables, flags.
//!
//! Contract:
//! - the file is `--config FILE` (or `HTTPTOP_CONFIG`), else [`DEFAULT_FILE`] when it
//!   exists; every long option except the actions (`help`, `version`, `config`,
//!   `print-config`, `list-interfaces`, `list-counters`) is a key of the same name (`-` or `_`); tables (`[alerting]`, ...) are optional headings
//!   that group keys without changing their names;
//! - precedence: flag over environment over file over built-in default;
//! - a file is untrusted text: a syntax error, an unknown key, a key set twice, a value of
//!   the wrong TOML type or a value the option rejects is an error naming
//!   `FILE:LINE:COLUMN` (exit 2); nothing in it can panic;
//! - `--print-config` prints the effective configuration as TOML, each value followed by
//!   where it came from, and the run stops there.
//!
//! Why no layered-config crate (figment, config): clap already parses and validates every
//! option and knows each value's source (flag, environment, default). The file layer is
//! made of clap defaults, checked one by one with the option's own clap value parser, so
//! the three layers share one definition and one set of checks. `toml`'s `DeTable` keeps
//! the span of every key and value, which gives the line and column of each error.

use crate::args::Args;
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};

/// Read when it exists and no `--config` is given.
pub const DEFAULT_FILE: &str = "/etc/httptop/httptop.toml";

/// Options that are not settings: not accepted in a file, not printed.
const NOT_SETTINGS: &[&str] = &[
    "help",
    "version",
    "config",
    "print_config",
    "list_interfaces",
    "list_counters",
    "generate",
];

/// A configuration file that cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    /// 1-based; 0 when the error has no position (the file cannot be read).
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.path.display(), self.message),
            _ => write!(
                f,
                "{}:{}:{}: {}",
                self.path.display(),
                self.line,
                self.column,
                self.message
            ),
        }
    }
}

/// One value set by the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileValue {
    /// The clap id of the option.
    pub id: String,
    /// As the option's parser reads it from a flag.
    pub raw: String,
    pub line: usize,
}

/// The effective arguments, and `--print-config`'s text when asked for.
pub struct Loaded {
    pub args: Args,
    pub print: Option<String>,
}

/// The environment variable of option `long`: `HTTPTOP_` and the name in upper case,
/// `-` as `_`.
pub fn env_name(long: &str) -> String {
    format!("HTTPTOP_{}", long.replace('-', "_").to_ascii_uppercase())
}

/// The clap command with an environment variable on every setting.
pub fn command() -> Command {
    Args::command().mut_args(|a| {
        let Some(long) = a.get_long().map(String::from) else {
            return a;
        };
        if matches!(long.as_str(), "help" | "version" | "generate") {
            return a;
        }
        a.env(env_name(&long)).hide_env(true)
    })
}

/// Line and column (1-based, columns in characters) of byte `offset` of `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// Parses and checks a configuration file's text against `cmd`'s options.
pub fn parse_file(cmd: &Command, path: &Path, text: &str) -> Result<Vec<FileValue>, ConfigError> {
    let err = |offset: usize, message: String| {
        let (line, column) = position(text, offset);
        ConfigError {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    };
    let table = DeTable::parse(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        err(offset, e.message().trim().replace('\n', "; "))
    })?;
    let check = Args::command();
    let mut out: Vec<FileValue> = Vec::new();
    let mut entries = Vec::new();
    for (k, v) in table.get_ref() {
        match v.get_ref() {
            // A heading: its keys are options (one level only).
            DeValue::Table(t) => entries.extend(t.iter()),
            _ => entries.push((k, v)),
        }
    }
    // In file order, so that the first error reported is the first in the file.
    entries.sort_by_key(|(k, _)| k.span().start);
    for (key, value) in entries {
        let name = key.get_ref().replace('_', "-");
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(name.as_str()))
            .filter(|a| !NOT_SETTINGS.contains(&a.get_id().as_str()));
        let Some(arg) = arg else {
            return Err(err(
                key.span().start,
                format!("unknown key `{}`", key.get_ref()),
            ));
        };
        let id = arg.get_id().as_str().to_string();
        if out.iter().any(|f| f.id == id) {
            return Err(err(key.span().start, format!("`{name}` is set twice")));
        }
        let at = value.span().start;
        let is_flag = matches!(arg.get_action(), ArgAction::SetTrue);
        let raw = match (value.get_ref(), is_flag) {
            (DeValue::Boolean(b), true) => b.to_string(),
            (v, true) => {
                return Err(err(
                    at,
                    format!("`{name}`: expected true or false, found {}", v.type_str()),
                ))
            }
            (DeValue::String(s), false) => s.to_string(),
            (DeValue::Integer(i), false) => {
                let digits = i.as_str().replace('_', "");
                match i.radix() {
                    10 => digits,
                    r => i128::from_str_radix(&digits, r)
                        .map(|n| n.to_string())
                        .unwrap_or(digits),
                }
            }
            (DeValue::Float(f), false) => f.as_str().replace('_', ""),
            (v, false) => {
                return Err(err(
                    at,
                    format!(
                        "`{name}`: expected a string or a number, found {}",
                        v.type_str()
                    ),
                ))
            }
        };
        if !is_flag {
            // The option's own parser, through clap (without the environment layer,
            // which could add a conflict of its own).
            let argv = ["httptop".to_string(), format!("--{name}={raw}")];
            if let Err(e) = check.clone().try_get_matches_from(argv) {
                return Err(err(at, format!("`{name}`: {}", clap_reason(&e))));
            }
        }
        out.push(FileValue {
            id,
            raw,
            line: position(text, key.span().start).0,
        });
    }
    Ok(out)
}

/// The reason in a clap error, on one line without clap's prefix and advice.
fn clap_reason(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.trim_start_matches("error: ").trim().to_string()
}

/// Reads the layers from the process's arguments and environment. Clap's own errors
/// (and `--help`, `--version`) exit as clap does; a file's errors are returned.
pub fn load(argv: Vec<OsString>) -> Result<Loaded, ConfigError> {
    let base = command();
    // Only to find `--config` / `HTTPTOP_CONFIG`; the real parse reports any error.
    let path = base
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(&argv)
        .ok()
        .and_then(|m| m.get_one::<PathBuf>("config").cloned());
    let explicit = path.is_some();
    let path = path.unwrap_or_else(|| PathBuf::from(DEFAULT_FILE));
    let mut file = None;
    if explicit || path.exists() {
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
            path: path.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
        })?;
        file = Some((path.clone(), parse_file(&base, &path, &text)?));
    }
    let mut cmd = base;
    for v in file.iter().flat_map(|(_, vs)| vs) {
        cmd = cmd.mut_arg(v.id.as_str(), |a| a.default_value(v.raw.clone()));
    }
    let matches = cmd.clone().get_matches_from(argv);
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let print = args.print_config.then(|| {
        let (p, vs) = file
            .as_ref()
            .map_or((None, &[][..]), |(p, vs)| (Some(p.as_path()), &vs[..]));
        effective(&matches, p, vs)
    });
    Ok(Loaded { args, print })
}

/// A raw value as TOML: booleans and plain numbers bare, anything else a string.
fn toml_value(raw: &str, is_flag: bool) -> String {
    let number = !raw.is_empty()
        && raw
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
        && raw
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '-')
        && raw.chars().last().is_some_and(|c| c.is_ascii_digit())
        && (raw.parse::<i64>().is_ok() || raw.parse::<f64>().is_ok());
    if (is_flag && (raw == "true" || raw == "false")) || number {
        return raw.to_string();
    }
    let mut s = String::with_capacity(raw.len() + 2);
    s.push('"');
    for c in raw.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if c.is_control() => s.push_str(&format!("\\u{:04X}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// `--print-config`'s text.
fn effective(m: &ArgMatches, file: Option<&Path>, from_file: &[FileValue]) -> String {
    let mut out = String::from(
        "# httptop's effective configuration: each value is followed by where it came from\n\
         # (command line, environment, configuration file, default). Usable as a --config file.\n",
    );
    match file {
        Some(p) => out.push_str(&format!("# configuration file: {}\n", p.display())),
        None => out.push_str(&format!(
            "# configuration file: none ({DEFAULT_FILE} does not exist)\n"
        )),
    }
    // In the order of `--help` (giving an option a default from the file moves it).
    for arg in command().get_arguments() {
        let id = arg.get_id().as_str();
        let Some(long) = arg.get_long() else {
            continue;
        };
        if NOT_SETTINGS.contains(&id) {
            continue;
        }
        let is_flag = matches!(arg.get_action(), ArgAction::SetTrue);
        // A list option (`--alerts rate,errors`) prints all its values, joined by its
        // delimiter, as the file and the command line take them.
        let raw = m.get_raw(id).and_then(|v| {
            let vals: Vec<String> = v.map(|v| v.to_string_lossy().into_owned()).collect();
            let sep = arg.get_value_delimiter().unwrap_or(',').to_string();
            (!vals.is_empty()).then(|| vals.join(&sep))
        });
        let Some(raw) = raw else {
            out.push_str(&format!("# {long} = (not set)\n"));
            continue;
        };
        let source = match m.value_source(id) {
            Some(ValueSource::CommandLine) => "command line".to_string(),
            Some(ValueSource::EnvVariable) => format!("environment {}", env_name(long)),
            Some(ValueSource::DefaultValue) => match from_file.iter().find(|f| f.id == id) {
                Some(f) => format!(
                    "{}:{}",
                    file.map(|p| p.display().to_string()).unwrap_or_default(),
                    f.line
                ),
                None => "default".to_string(),
            },
            _ => "default".to_string(),
        };
        out.push_str(&format!(
            "{long} = {}  # {source}\n",
            toml_value(&raw, is_flag)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<FileValue>, ConfigError> {
        parse_file(&command(), Path::new("t.toml"), text)
    }

    fn error_at(text: &str) -> (usize, usize, String) {
        match parse(text) {
            Err(e) => (e.line, e.column, e.message),
            Ok(v) => panic!("accepted: {v:?}"),
        }
    }

    #[test]
    fn keys_are_long_options_with_dashes_or_underscores_and_headings_group_them() {
        let v = parse(
            "threshold = 25\nmax_flows = 1_000\n[alerting]\nwindow = \"30s\"\n\
             [fleet]\nmetrics-addr = \"127.0.0.1:9184\"\nquiet = true\nspeed = 2.5\n",
        )
        .expect("valid");
        let got: Vec<_> = v
            .iter()
            .map(|f| (f.id.as_str(), f.raw.as_str(), f.line))
            .collect();
        assert_eq!(
            got,
            [
                ("threshold", "25", 1),
                ("max_flows", "1000", 2),
                ("window", "30s", 4),
                ("metrics_addr", "127.0.0.1:9184", 6),
                ("quiet", "true", 7),
                ("speed", "2.5", 8),
            ]
        );
    }

    #[test]
    fn every_error_names_line_and_column() {
        assert_eq!(
            error_at("threshold = 25\n  bogus = 1\n"),
            (2, 3, "unknown key `bogus`".into())
        );
        let (l, c, m) = error_at("threshold = 25\nwindow = \"soon\"\n");
        assert_eq!((l, c), (2, 10));
        assert!(m.starts_with("`window`: invalid value 'soon'"), "{m}");
        let (l, c, m) = error_at("\n\nthreshold = -3\n");
        assert_eq!((l, c), (3, 13));
        assert!(m.starts_with("`threshold`: invalid value '-3'"), "{m}");
        assert_eq!(
            error_at("quiet = \"yes\"\n"),
            (1, 9, "`quiet`: expected true or false, found string".into())
        );
        assert_eq!(
            error_at("top = [1]\n"),
            (
                1,
                7,
                "`top`: expected a string or a number, found array".into()
            )
        );
        assert_eq!(
            error_at("max-flows = 1\nmax_flows = 2\n"),
            (2, 1, "`max-flows` is set twice".into())
        );
        assert_eq!(
            error_at("config = \"x\"\n"),
            (1, 1, "unknown key `config`".into())
        );
        let (l, c, _) = error_at("threshold = 25\nwindow = \n");
        assert_eq!((l, c), (2, 10), "a syntax error");
        let (l, _, _) = error_at("a = 1\na = 2\n");
        assert_eq!(l, 2, "a duplicate TOML key");
    }

    #[test]
    fn hostile_files_never_panic() {
        for text in [
            "\u{0}",
            "[[x]]\n",
            "x.y.z = 1",
            "\"\u{1F600}\" = 1",
            "threshold = 99999999999999999999999",
            "window = 0x10",
            "speed = inf",
            "[a]\n[a.b]\nc = 1",
            "é = \n",
        ] {
            let _ = parse(text);
        }
    }

    #[test]
    fn positions_count_characters() {
        assert_eq!(position("ab\néx = 1", 5), (2, 2));
        assert_eq!(position("", 0), (1, 1));
        assert_eq!(position("abc", 99), (1, 4));
    }

    #[test]
    fn printed_values_read_back_as_toml() {
        assert_eq!(toml_value("25", false), "25");
        assert_eq!(toml_value("2.5", false), "2.5");
        assert_eq!(toml_value("true", true), "true");
        assert_eq!(toml_value("true", false), "\"true\"");
        assert_eq!(toml_value("tcp port 80", false), "\"tcp port 80\"");
        assert_eq!(toml_value("a\"b\\c\n", false), "\"a\\\"b\\\\c\\u000A\"");
        assert_eq!(toml_value("127.0.0.1:9184", false), "\"127.0.0.1:9184\"");
        assert_eq!(toml_value("1.2.3", false), "\"1.2.3\"");
    }

    #[test]
    fn a_list_option_prints_every_value() {
        let cmd = command();
        let m = cmd
            .try_get_matches_from(["httptop", "--alerts", "rate,latency"])
            .expect("parses");
        let text = effective(&m, None, &[]);
        assert!(
            text.lines()
                .any(|l| l == "alerts = \"rate,latency\"  # command line"),
            "{text}"
        );
        let m = command().try_get_matches_from(["httptop"]).expect("parses");
        let text = effective(&m, None, &[]);
        assert!(
            text.lines()
                .any(|l| l == "alerts = \"rate,errors,latency\"  # default"),
            "{text}"
        );
    }

    #[test]
    fn env_names() {
        assert_eq!(env_name("metrics-addr"), "HTTPTOP_METRICS_ADDR");
        let cmd = command();
        let t = cmd
            .get_arguments()
            .find(|a| a.get_id() == "threshold")
            .and_then(|a| a.get_env().map(|e| e.to_os_string()));
        assert_eq!(t, Some("HTTPTOP_THRESHOLD".into()));
    }
}
