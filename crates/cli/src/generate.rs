//! `httptop --generate KIND` (hidden): the man page and the shell completions, written
//! to standard output from the clap definition, so they never drift from `--help`
//! (ripgrep's `rg --generate` convention). `scripts/gen-assets` writes them all.
//!
//! Why clap_mangen and clap_complete: they are clap's own generators, kept with clap,
//! and read the same [`crate::config::command`] the parser uses.

use clap::ValueEnum;
use std::io::{self, Write};

/// What `--generate` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Generate {
    /// The man page (roff), `httptop.1`.
    Man,
    /// bash completions.
    CompleteBash,
    /// zsh completions (`_httptop`).
    CompleteZsh,
    /// fish completions.
    CompleteFish,
}

/// Sections of the man page beyond the options.
const EXTRA: &str = r#".SH CONFIGURATION
Every long option is also a key of a TOML file: \fB\-\-config\fR \fIFILE\fR, else
\fI/etc/httptop/httptop.toml\fR when it exists. Keys are written with \fB\-\fR or
\fB_\fR (\fBmax\-flows\fR, \fBmax_flows\fR); tables such as \fB[alerting]\fR only group
keys. Environment variables \fBHTTPTOP_\fR\fIOPTION\fR (upper case, \fB\-\fR as \fB_\fR,
e.g. \fBHTTPTOP_THRESHOLD=25\fR) override the file; flags override both. An unknown key
or a bad value is an error naming \fIFILE\fR:\fILINE\fR:\fICOLUMN\fR (exit status 2).
\fB\-\-print\-config\fR prints the effective configuration with the source of each value.
.SH SIGNALS
.TP
\fBSIGINT\fR, \fBSIGTERM\fR
Stop: what is held is finished, every output flushed, exit 0.
.TP
\fBSIGHUP\fR
With \fB\-\-log\fR \fIFILE\fR and standard error not a terminal (a service): reopen
the log (after logrotate moved it away), between two records, so that none is lost or
written twice. On a terminal, SIGHUP stops httptop as usual.
.SH PRIVILEGES
httptop needs \fBCAP_NET_RAW\fR and \fBCAP_NET_ADMIN\fR (or root) only to open a live
capture. Then, started as root, it becomes \fB\-\-user\fR (default \fBnobody\fR); in every
case it drops all capabilities, sets no_new_privs, and sandboxes itself with Landlock
(filesystem read-only but the log's directory, no new listening port) unless
\fB\-\-no\-sandbox\fR. Under the packaged systemd unit it starts as the user \fBhttptop\fR
with the two capabilities as ambient capabilities, and drops them the same way.
.SH FILES
.TP
\fI/etc/httptop/httptop.toml\fR
The default configuration file.
.TP
\fI/var/log/httptop/exchanges.jsonl\fR
The service's JSON Lines log (rotated by \fI/etc/logrotate.d/httptop\fR).
.TP
\fI/var/lib/httptop/baseline\fR
The service's learned baseline.
.SH EXIT STATUS
0 on success; 1 on a runtime failure or a damaged capture file; 2 on a usage or
configuration error.
"#;

/// Writes `what` to `w`.
pub fn write(what: Generate, w: &mut dyn Write) -> io::Result<()> {
    let mut cmd = crate::config::command();
    match what {
        Generate::Man => {
            let man = clap_mangen::Man::new(cmd).manual("httptop manual");
            man.render_title(w)?;
            man.render_name_section(w)?;
            man.render_synopsis_section(w)?;
            man.render_description_section(w)?;
            man.render_options_section(w)?;
            w.write_all(EXTRA.as_bytes())?;
            man.render_version_section(w)?;
        }
        Generate::CompleteBash => {
            clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "httptop", w)
        }
        Generate::CompleteZsh => {
            clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, "httptop", w)
        }
        Generate::CompleteFish => {
            clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, "httptop", w)
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(g: Generate) -> String {
        let mut v = Vec::new();
        write(g, &mut v).expect("generate");
        String::from_utf8(v).expect("utf-8")
    }

    #[test]
    fn man_page_has_the_options_and_the_extra_sections() {
        let m = text(Generate::Man);
        assert!(m.starts_with(".ie \\n(.g .ds Aq"), "{}", &m[..80]);
        for want in [
            ".TH httptop 1",
            "\\-\\-metrics\\-addr",
            "\\-\\-log\\-max\\-mib",
            ".SH CONFIGURATION",
            ".SH SIGNALS",
            ".SH FILES",
            ".SH EXIT STATUS",
        ] {
            assert!(m.contains(want), "no {want}");
        }
        assert!(
            !m.contains("\\-\\-generate"),
            "the hidden flag stays hidden"
        );
    }

    #[test]
    fn completions_know_the_long_options() {
        assert!(text(Generate::CompleteBash).contains("--print-config"));
        assert!(text(Generate::CompleteZsh).contains("#compdef httptop"));
        assert!(text(Generate::CompleteFish).contains("-l metrics-addr"));
    }
}
