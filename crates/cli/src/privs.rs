//! Privileges: what httptop gives up once its capture is open, and the sandbox after.
//!
//! httptop needs root (or `CAP_NET_RAW`/`CAP_NET_ADMIN`) for one thing only: opening the
//! capture. Everything after that (decoding hostile packets, parsing HTTP, writing the
//! log, drawing the dashboard) runs without privileges.
//!
//! # Order
//!
//! 1. Start-up, [`Privs::plan`]: `--user NAME` is checked (only root can switch users:
//!    exit 2 otherwise; the user must exist and must not be uid 0) and looked up while the
//!    name service can still read `/etc`. Started as root without `--user`, the target is
//!    `nobody`.
//! 2. The runtime opens every output (the log; the baseline file that learning will write,
//!    created empty before the drop so the unprivileged process can fill it), then the
//!    source: the live capture, a file or standard input. The demo opens nothing.
//! 3. [`Privs::apply`], in this order:
//!    - refuses if the process has more than one thread: glibc applies a uid change to
//!      every thread, but capability sets, the bounding set, `no_new_privs` and Landlock
//!      are per thread, so a thread started earlier would keep them. Threads (servers,
//!      clients, the file reader, the dashboard) are started after the drop; their
//!      sockets may be bound before it;
//!    - the capability bounding set is emptied (it needs `CAP_SETPCAP`, so before the uid
//!      change; without it, as in some containers or with `setcap` file capabilities, it
//!      is kept and the status line says so: with `no_new_privs` it matters little);
//!    - started as root: supplementary groups are cleared (`setgroups([])`), then
//!      `setresgid` and `setresuid` set the real, effective and saved ids to the user's:
//!      there is no way back;
//!    - every capability set is cleared: ambient, inheritable, effective, permitted (the
//!      uid change has already emptied permitted and effective; not root but holding
//!      capabilities, this is what drops them);
//!    - `PR_SET_NO_NEW_PRIVS`: no execve can ever grant privileges again;
//!    - the result is read back from `/proc/self/status` (ids, groups, all five capability
//!      sets, `NoNewPrivs`); any difference is an error (exit 1): httptop does not go on
//!      with privileges it said it dropped;
//!    - the sandbox, unless `--no-sandbox` ([`Sandbox`]).
//!
//! Not root, without capabilities and without `--user`, there is nothing to drop:
//! `no_new_privs` and the sandbox still apply. Files (`-r`) and the demo go through the
//! same steps as live capture: the file is already open, and parsing hostile captures
//! unprivileged costs nothing.
//!
//! # Sandbox: Landlock, no seccomp
//!
//! Landlock (Linux ≥ 5.13, used best-effort up to ABI 6; an older or Landlock-less kernel
//! runs unsandboxed and the status line says so; the run never fails for it) restricts,
//! for files opened from then on (descriptors already open keep working):
//!
//! - the filesystem: read-only (`ReadFile`, `ReadDir`) beneath `/etc` (name resolution
//!   reads `resolv.conf`, `hosts`, `nsswitch.conf`, `gai.conf`; TLS roots), `/usr`,
//!   `/lib`, `/lib64` (the name service's libraries are loaded at the first lookup),
//!   `/proc/self` (the process's own statistics) and `/dev/urandom`; `/dev/tty` read,
//!   write and terminal ioctls (the dashboard's terminal queries open it); with `--log
//!   FILE`, the log's directory: files read, written, truncated, created and removed
//!   there (SIGHUP reopens the log, `--log-max-mib` rotates it; see `crate::logfile`).
//!   Nothing else can be opened, nothing anywhere else created, written, truncated,
//!   renamed, removed or executed;
//! - TCP: no new listening socket (`bind`); sockets bound before the drop keep working,
//!   and outgoing connections stay allowed;
//! - scopes (ABI 6): no signal to processes outside the sandbox, no connection to abstract
//!   Unix sockets created outside it.
//!
//! No seccomp filter: the system calls that libpcap (poll, recvfrom, getsockopt for the
//! kernel counters, ring-buffer variants), glibc's name service, crossterm and the Rust
//! standard library (clone3, rseq, statx, futex variants, getrandom) make differ between
//! glibc, kernel and crate versions, and an allow-list that misses one kills httptop in
//! production on a path the tests never took. After the uid change, the empty capability
//! sets, `no_new_privs` and Landlock, a deny-list would add little.

use std::fmt;
use std::io;

/// The user httptop becomes when started as root without `--user`.
pub const DEFAULT_USER: &str = "nobody";

/// Why privileges could not be dropped.
#[derive(Debug, thiserror::Error)]
pub enum PrivsError {
    #[error("--user {0}: only root can switch users (run as root, or leave out --user)")]
    NotRoot(String),
    #[error("--user {0}: no such user")]
    NoSuchUser(String),
    #[error("--user {0}: is uid 0; name an unprivileged user")]
    RootTarget(String),
    #[error("cannot look up user {name}: {source}")]
    Lookup {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot drop privileges: {0} threads are running (privileges are dropped before any other thread starts)")]
    Threads(usize),
    #[error("cannot drop privileges: {step}: {source}")]
    Step {
        step: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("privileges still held after the drop: {0}")]
    Verify(String),
    #[cfg(not(target_os = "linux"))]
    #[error("--user is only implemented on Linux")]
    Unsupported,
}

impl PrivsError {
    /// True for the errors fixed on the command line (exit 2).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            PrivsError::NotRoot(_) | PrivsError::NoSuchUser(_) | PrivsError::RootTarget(_)
        )
    }
}

/// The user to become.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// What [`Privs::apply`] will do, decided at start-up.
#[derive(Debug)]
pub struct Privs {
    target: Option<Target>,
    sandbox: bool,
    /// The `--log` file's directory: writable in the sandbox (SIGHUP reopen, rotation).
    log_dir: Option<std::path::PathBuf>,
}

impl Privs {
    /// Lets the sandboxed process create, write and rename files in `dir`.
    pub fn log_dir(mut self, dir: Option<std::path::PathBuf>) -> Privs {
        self.log_dir = dir;
        self
    }
}

/// What the sandbox became.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sandbox {
    /// `--no-sandbox`.
    Off,
    /// Every restriction asked for is in force.
    Enforced,
    /// The kernel supports only part of them (an older Landlock ABI).
    Partial,
    /// Not in force: the kernel lacks Landlock, or it failed (the reason).
    NotEnforced(String),
}

/// What was dropped: the status line of a run.
#[derive(Debug)]
pub struct Dropped {
    pub target: Option<Target>,
    pub uid: u32,
    /// The bounding set could not be emptied (no `CAP_SETPCAP`).
    pub bounding_kept: bool,
    pub sandbox: Sandbox,
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Some(t) => write!(
                f,
                "running as {} (uid {}, gid {}) without capabilities",
                t.name, t.uid, t.gid
            )?,
            None => write!(f, "running as uid {} without capabilities", self.uid)?,
        }
        if self.bounding_kept {
            f.write_str(" (bounding set kept: no CAP_SETPCAP)")?;
        }
        f.write_str("; sandbox: ")?;
        match &self.sandbox {
            Sandbox::Off => f.write_str("off (--no-sandbox)"),
            Sandbox::Enforced => f.write_str("Landlock (filesystem read-only, no new listeners)"),
            Sandbox::Partial => {
                f.write_str("Landlock, partly (this kernel supports an older Landlock ABI)")
            }
            Sandbox::NotEnforced(why) => write!(f, "none ({why})"),
        }
    }
}

/// The security-relevant lines of a `/proc/<pid>/status` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcStatus {
    /// Real, effective, saved, filesystem.
    pub uid: Vec<u32>,
    pub gid: Vec<u32>,
    pub groups: Vec<u32>,
    /// CapInh, CapPrm, CapEff, CapBnd, CapAmb.
    pub cap_inh: u64,
    pub cap_prm: u64,
    pub cap_eff: u64,
    pub cap_bnd: u64,
    pub cap_amb: u64,
    pub no_new_privs: bool,
}

impl ProcStatus {
    pub fn parse(text: &str) -> ProcStatus {
        let mut s = ProcStatus::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let ids = || {
                value
                    .split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect::<Vec<u32>>()
            };
            let cap = || u64::from_str_radix(value.trim(), 16).unwrap_or(u64::MAX);
            match key {
                "Uid" => s.uid = ids(),
                "Gid" => s.gid = ids(),
                "Groups" => s.groups = ids(),
                "CapInh" => s.cap_inh = cap(),
                "CapPrm" => s.cap_prm = cap(),
                "CapEff" => s.cap_eff = cap(),
                "CapBnd" => s.cap_bnd = cap(),
                "CapAmb" => s.cap_amb = cap(),
                "NoNewPrivs" => s.no_new_privs = value.trim() == "1",
                _ => {}
            }
        }
        s
    }

    /// What is still held that should not be, given the target (None: all is well).
    pub fn leftovers(&self, target: Option<&Target>, bounding: bool) -> Option<String> {
        let mut bad = Vec::new();
        if let Some(t) = target {
            if self.uid.len() != 4 || self.uid.iter().any(|&u| u != t.uid) {
                bad.push(format!("uids {:?}", self.uid));
            }
            if self.gid.len() != 4 || self.gid.iter().any(|&g| g != t.gid) {
                bad.push(format!("gids {:?}", self.gid));
            }
            if !self.groups.is_empty() {
                bad.push(format!("groups {:?}", self.groups));
            }
        }
        for (name, v) in [
            ("CapInh", self.cap_inh),
            ("CapPrm", self.cap_prm),
            ("CapEff", self.cap_eff),
            ("CapAmb", self.cap_amb),
        ] {
            if v != 0 {
                bad.push(format!("{name} {v:016x}"));
            }
        }
        if bounding && self.cap_bnd != 0 {
            bad.push(format!("CapBnd {:016x}", self.cap_bnd));
        }
        if !self.no_new_privs {
            bad.push("NoNewPrivs 0".into());
        }
        (!bad.is_empty()).then(|| bad.join(", "))
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use super::*;
    use caps::CapSet;
    use nix::unistd::{Gid, Uid, User};

    fn step<E: fmt::Display>(step: &'static str) -> impl FnOnce(E) -> PrivsError {
        move |e| PrivsError::Step {
            step,
            source: io::Error::other(e.to_string()),
        }
    }

    impl Privs {
        /// Decides at start-up: the user to become (looked up now), and the sandbox.
        pub fn plan(user: Option<&str>, sandbox: bool) -> Result<Privs, PrivsError> {
            let root = nix::unistd::geteuid().is_root();
            let target = match (user, root) {
                (Some(name), false) => return Err(PrivsError::NotRoot(name.into())),
                (None, false) => None,
                (name, true) => Some(lookup(name.unwrap_or(DEFAULT_USER))?),
            };
            Ok(Privs {
                target,
                sandbox,
                log_dir: None,
            })
        }

        /// Drops everything (see the module documentation), then sandboxes.
        pub fn apply(self) -> Result<Dropped, PrivsError> {
            let threads = std::fs::read_dir("/proc/self/task")
                .map_err(step("reading /proc/self/task"))?
                .count();
            if threads != 1 {
                return Err(PrivsError::Threads(threads));
            }
            // The bounding set shrinks only with CAP_SETPCAP (root in some containers
            // lacks it); with no_new_privs it matters little, so it is kept then, and said.
            let held =
                caps::read(None, CapSet::Effective).map_err(step("reading the capabilities"))?;
            let bounding_cleared = held.contains(&caps::Capability::CAP_SETPCAP);
            if bounding_cleared {
                caps::clear(None, CapSet::Bounding)
                    .map_err(step("emptying the capability bounding set"))?;
            }
            if let Some(t) = &self.target {
                nix::unistd::setgroups(&[]).map_err(step("clearing the supplementary groups"))?;
                let gid = Gid::from_raw(t.gid);
                nix::unistd::setresgid(gid, gid, gid).map_err(step("setresgid"))?;
                let uid = Uid::from_raw(t.uid);
                nix::unistd::setresuid(uid, uid, uid).map_err(step("setresuid"))?;
            }
            for (set, what) in [
                (CapSet::Ambient, "clearing the ambient capabilities"),
                (CapSet::Inheritable, "clearing the inheritable capabilities"),
                (CapSet::Effective, "clearing the effective capabilities"),
                (CapSet::Permitted, "clearing the permitted capabilities"),
            ] {
                caps::clear(None, set).map_err(step(what))?;
            }
            nix::sys::prctl::set_no_new_privs().map_err(step("PR_SET_NO_NEW_PRIVS"))?;
            let status = std::fs::read_to_string("/proc/self/status")
                .map_err(step("reading /proc/self/status"))?;
            let status = ProcStatus::parse(&status);
            if let Some(bad) = status.leftovers(self.target.as_ref(), bounding_cleared) {
                return Err(PrivsError::Verify(bad));
            }
            let sandbox = if self.sandbox {
                landlock(self.log_dir.as_deref())
            } else {
                Sandbox::Off
            };
            Ok(Dropped {
                target: self.target,
                uid: nix::unistd::geteuid().as_raw(),
                bounding_kept: !bounding_cleared && status.cap_bnd != 0,
                sandbox,
            })
        }
    }

    fn lookup(name: &str) -> Result<Target, PrivsError> {
        let user = User::from_name(name)
            .map_err(|e| PrivsError::Lookup {
                name: name.into(),
                source: e.into(),
            })?
            .ok_or_else(|| PrivsError::NoSuchUser(name.into()))?;
        if user.uid.is_root() {
            return Err(PrivsError::RootTarget(name.into()));
        }
        Ok(Target {
            name: user.name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        })
    }

    /// Paths left readable (see the module documentation).
    const READABLE: &[&str] = &[
        "/etc",
        "/usr",
        "/lib",
        "/lib64",
        "/proc/self",
        "/dev/urandom",
    ];

    /// Restricts this thread (and every thread it starts) with Landlock, best-effort.
    pub fn landlock(log_dir: Option<&std::path::Path>) -> Sandbox {
        use landlock::{
            path_beneath_rules, Access, AccessFs, AccessNet, Ruleset, RulesetAttr,
            RulesetCreatedAttr, RulesetStatus, Scope, ABI,
        };
        let abi = ABI::V6;
        let status = Ruleset::default()
            .handle_access(AccessFs::from_all(abi))
            .and_then(|r| r.handle_access(AccessNet::BindTcp))
            .and_then(|r| r.scope(Scope::from_all(abi)))
            .and_then(|r| r.create())
            .and_then(|r| {
                r.add_rules(path_beneath_rules(
                    READABLE,
                    AccessFs::ReadFile | AccessFs::ReadDir,
                ))
            })
            .and_then(|r| {
                r.add_rules(path_beneath_rules(
                    ["/dev/tty"],
                    AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::IoctlDev,
                ))
            })
            .and_then(|r| {
                r.add_rules(path_beneath_rules(
                    log_dir,
                    AccessFs::ReadFile
                        | AccessFs::WriteFile
                        | AccessFs::Truncate
                        | AccessFs::MakeReg
                        | AccessFs::RemoveFile,
                ))
            })
            .and_then(|r| r.restrict_self());
        match status {
            Ok(s) => match s.ruleset {
                RulesetStatus::FullyEnforced => Sandbox::Enforced,
                RulesetStatus::PartiallyEnforced => Sandbox::Partial,
                RulesetStatus::NotEnforced => {
                    Sandbox::NotEnforced("this kernel does not provide Landlock".into())
                }
            },
            Err(e) => Sandbox::NotEnforced(format!("Landlock failed: {e}")),
        }
    }
}

#[cfg(not(target_os = "linux"))]
impl Privs {
    pub fn plan(user: Option<&str>, sandbox: bool) -> Result<Privs, PrivsError> {
        match user {
            Some(_) => Err(PrivsError::Unsupported),
            None => Ok(Privs {
                target: None,
                sandbox,
                log_dir: None,
            }),
        }
    }

    pub fn apply(self) -> Result<Dropped, PrivsError> {
        Ok(Dropped {
            target: None,
            uid: 0,
            bounding_kept: true,
            sandbox: Sandbox::NotEnforced("not Linux".into()),
        })
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\thttptop\nUid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\n\
        Groups:\t\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n\
        CapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\n";

    fn nobody() -> Target {
        Target {
            name: "nobody".into(),
            uid: 65534,
            gid: 65534,
        }
    }

    #[test]
    fn a_clean_status_has_no_leftovers() {
        let s = ProcStatus::parse(STATUS);
        assert_eq!(s.uid, vec![65534; 4]);
        assert!(s.groups.is_empty());
        assert!(s.no_new_privs);
        assert_eq!(s.leftovers(Some(&nobody()), true), None);
    }

    #[test]
    fn every_leftover_is_named() {
        let text = STATUS
            .replace("Uid:\t65534\t65534\t65534", "Uid:\t65534\t65534\t0")
            .replace("Groups:\t", "Groups:\t0 27")
            .replace("CapEff:\t0000000000000000", "CapEff:\t0000000000002000")
            .replace("CapBnd:\t0000000000000000", "CapBnd:\t000001ffffffffff")
            .replace("NoNewPrivs:\t1", "NoNewPrivs:\t0");
        let s = ProcStatus::parse(&text);
        let bad = s.leftovers(Some(&nobody()), true).expect("leftovers");
        for what in [
            "uids",
            "groups",
            "CapEff 0000000000002000",
            "CapBnd",
            "NoNewPrivs",
        ] {
            assert!(bad.contains(what), "{what} in {bad}");
        }
        // Without a target and with the bounding set kept, only capabilities and NNP count.
        let bad = s.leftovers(None, false).expect("leftovers");
        assert!(!bad.contains("uids") && !bad.contains("CapBnd"), "{bad}");
    }

    #[test]
    fn user_needs_root() {
        if nix::unistd::geteuid().is_root() {
            assert_eq!(
                Privs::plan(Some("nobody"), true)
                    .expect("nobody exists")
                    .target,
                Some(nobody())
            );
            assert!(matches!(
                Privs::plan(Some("root"), true),
                Err(PrivsError::RootTarget(_))
            ));
            let e = Privs::plan(Some("no-such-user-httptop"), true).expect_err("no such user");
            assert!(
                e.is_usage() && matches!(e, PrivsError::NoSuchUser(_)),
                "{e}"
            );
        } else {
            let e = Privs::plan(Some("nobody"), true).expect_err("not root");
            assert!(e.is_usage(), "{e}");
            assert_eq!(
                Privs::plan(None, true).expect("no user, no root").target,
                None
            );
        }
    }

    /// The Landlock ruleset, applied to one thread of the test process (Landlock, like
    /// `no_new_privs`, is per thread): files outside the readable paths cannot be opened,
    /// nothing can be created (but in the log's directory), /etc stays readable, already-open files stay writable, and
    /// no TCP port can be bound.
    #[test]
    fn landlock_restricts_the_thread_it_is_applied_to() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("httptop-landlock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let existing = dir.join("existing");
        std::fs::write(&existing, "x").expect("write");
        let mut open_before = std::fs::File::create(dir.join("open-before")).expect("create");
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).expect("log dir");
        std::fs::write(logs.join("log"), "old").expect("write");
        let d = dir.clone();
        let (sandbox, results) = std::thread::spawn(move || {
            let sandbox = imp::landlock(Some(&d.join("logs")));
            let created = std::fs::File::create(d.join("new")).map(|_| ());
            // The log's directory: moved away (rotation), created again, appended to.
            let l = d.join("logs");
            let rotated = std::fs::rename(l.join("log"), l.join("log.1"))
                .and_then(|()| std::fs::File::create(l.join("log")).map(|_| ()))
                .and_then(|()| {
                    std::fs::OpenOptions::new()
                        .append(true)
                        .open(l.join("log.1"))
                        .map(|_| ())
                })
                .and_then(|()| std::fs::remove_file(l.join("log.1")));
            let read_outside = std::fs::read(d.join("existing")).map(|_| ());
            let read_etc = std::fs::read("/etc/passwd").map(|_| ());
            let wrote = open_before.write_all(b"still writable");
            let bound = std::net::TcpListener::bind("127.0.0.1:0").map(|_| ());
            (
                sandbox,
                [created, read_outside, read_etc, wrote, bound, rotated],
            )
        })
        .join()
        .expect("sandboxed thread");
        let _ = std::fs::remove_dir_all(&dir);
        if sandbox != Sandbox::Enforced {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "CI's kernel must provide Landlock ABI 6: {sandbox:?}"
            );
            eprintln!("skipped: Landlock not fully enforced here: {sandbox:?}");
            return;
        }
        let [created, read_outside, read_etc, wrote, bound, rotated] = results;
        assert!(
            rotated.is_ok(),
            "rotation in the log's directory: {rotated:?}"
        );
        let denied = |r: &io::Result<()>| {
            r.as_ref()
                .is_err_and(|e| e.kind() == io::ErrorKind::PermissionDenied)
        };
        assert!(denied(&created), "create: {created:?}");
        assert!(denied(&read_outside), "read outside: {read_outside:?}");
        assert!(read_etc.is_ok(), "read /etc: {read_etc:?}");
        assert!(wrote.is_ok(), "write to a file opened before: {wrote:?}");
        assert!(denied(&bound), "bind: {bound:?}");
        // The other threads of the process are not restricted.
        assert!(std::fs::File::create(
            std::env::temp_dir().join(format!("httptop-landlock-free-{}", std::process::id()))
        )
        .is_ok());
        let _ = std::fs::remove_file(
            std::env::temp_dir().join(format!("httptop-landlock-free-{}", std::process::id())),
        );
    }
}
