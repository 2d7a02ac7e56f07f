//! Running `tessera` as a child process: one-shot commands and the installation (directory and
//! `TESSERA__…` variables) every process of a test is started from.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_tessera");
/// The longest a one-shot command may run (it may migrate or generate an RSA key).
const COMMAND_LIMIT: Duration = Duration::from_secs(30);

/// A child process, killed and reaped when dropped unless it already exited. When the test is
/// failing, its output file is printed.
pub(super) struct Proc {
    pub(super) child: Child,
    pub(super) exited: Option<ExitStatus>,
    pub(super) label: String,
    pub(super) output: PathBuf,
}

impl Proc {
    pub(super) fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().expect("try_wait");
        }
        self.exited
    }

    pub(super) fn output(&self) -> String {
        fs::read_to_string(&self.output).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            let text = self.output();
            let tail: Vec<&str> = text.lines().rev().take(60).collect();
            eprintln!("---- last output of {} ----", self.label);
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    #[track_caller]
    pub fn success(&self) -> &Self {
        assert!(
            self.status.success(),
            "tessera {:?} failed: {self:#?}",
            self.args
        );
        self
    }

    pub fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }

    /// Asserts that the command failed with `code`, reported as exactly one line on stderr, with
    /// no panic message or backtrace; returns that line.
    #[track_caller]
    pub fn one_line_failure(&self, code: i32) -> &str {
        assert_eq!(self.code(), Some(code), "unexpected exit: {self:#?}");
        for needle in ["panicked", "backtrace", "RUST_BACKTRACE"] {
            assert!(!self.stderr.contains(needle), "a panic: {self:#?}");
        }
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(lines.len(), 1, "expected one stderr line: {self:#?}");
        assert!(lines[0].starts_with("tessera: "), "{self:#?}");
        lines[0]
    }
}

/// A command started, not yet finished.
pub struct Running {
    args: Vec<String>,
    proc: Proc,
    stderr: PathBuf,
}

impl Running {
    /// Waits (at most [`COMMAND_LIMIT`]) and collects the output.
    pub fn finish(mut self) -> Run {
        let deadline = Instant::now() + COMMAND_LIMIT;
        let status = loop {
            if let Some(status) = self.proc.try_wait() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "tessera {:?} did not finish within {COMMAND_LIMIT:?}",
                self.args
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Run {
            args: self.args.clone(),
            status,
            stdout: self.proc.output(),
            stderr: fs::read_to_string(&self.stderr).unwrap_or_default(),
        }
    }
}

/// One Tessera installation: a temporary working directory (database, keys, config) and the
/// `TESSERA__…` variables every process started from it gets. Servers started from one
/// installation share its database and keys directory, like replicas.
pub struct Install {
    pub dir: TempDir,
    vars: BTreeMap<String, String>,
    counter: AtomicUsize,
}

impl Install {
    /// A SQLite database in the directory (not yet created).
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("data/tessera.db").display());
        Self::with(dir, &url)
    }

    /// The database at `url`.
    pub fn on_database(url: &str) -> Self {
        Self::with(tempfile::tempdir().expect("tempdir"), url)
    }

    fn with(dir: TempDir, url: &str) -> Self {
        let mut vars = BTreeMap::new();
        let mut set = |k: &str, v: String| vars.insert(k.to_owned(), v);
        set("TESSERA__DATABASE__URL", url.to_owned());
        set(
            "TESSERA__KEYS__DIR",
            dir.path().join("keys").display().to_string(),
        );
        set("TESSERA__SERVER__WORKERS", "1".into());
        // Never the default 8080/8081, even for a `serve` expected to fail before listening.
        set("TESSERA__SERVER__PUBLIC_ADDR", "127.0.0.1:0".into());
        set("TESSERA__SERVER__ADMIN_ADDR", "127.0.0.1:0".into());
        set("TESSERA__DATABASE__POOL_MAX_SIZE", "4".into());
        Self {
            dir,
            vars,
            counter: AtomicUsize::new(0),
        }
    }

    /// Sets (or overrides) a variable for every process started from now on.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.vars.insert(key.to_owned(), value.into());
        self
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.path("keys")
    }

    /// The `*.pem` files of the keys directory, sorted.
    pub fn key_files(&self) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(self.keys_dir()) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "pem"))
            .collect();
        files.sort();
        files
    }

    pub(super) fn next(&self) -> usize {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    pub(super) fn command(&self, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(BIN);
        // Only what the test sets: nothing inherited from the developer's shell.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("TESSERA__") {
                cmd.env_remove(key);
            }
        }
        cmd.env_remove("RUST_LOG")
            // A panic would print its backtrace, which the one-line checks refuse.
            .env("RUST_BACKTRACE", "1")
            .envs(&self.vars)
            .envs(extra.iter().copied())
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        cmd
    }

    /// Starts `tessera ARGS` with extra variables; stdout and stderr go to files.
    pub fn start(&self, args: &[&str], extra: &[(&str, &str)]) -> Running {
        let n = self.next();
        let out = self.path(&format!("cmd-{n}.out"));
        let err = self.path(&format!("cmd-{n}.err"));
        let child = self
            .command(args, extra)
            .stdout(File::create(&out).expect("stdout file"))
            .stderr(File::create(&err).expect("stderr file"))
            .spawn()
            .expect("spawn tessera");
        Running {
            args: args.iter().map(|s| s.to_string()).collect(),
            proc: Proc {
                child,
                exited: None,
                label: format!("tessera {args:?}"),
                output: out,
            },
            stderr: err,
        }
    }

    /// Runs `tessera ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        self.start(args, &[]).finish()
    }

    /// `tessera admin-token create --name NAME`: the token.
    pub fn admin_token(&self, name: &str) -> String {
        let run = self.run(&["admin-token", "create", "--name", name]);
        run.success().last_line().to_owned()
    }
}
