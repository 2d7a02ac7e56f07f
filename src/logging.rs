//! The process's logger: env_logger, its level from `RUST_LOG` (default `info`), its line format
//! from `log.format`, its lines written to standard error by a background thread.
//!
//! A request thread only formats its line and queues it: the write(2), and the lock on standard
//! error that env_logger would take for it, happen on the writer thread, which wakes every few
//! milliseconds and writes whatever has queued up in one go. Call [`flush`] before the process
//! exits.
//!
//! - `plain`: env_logger's own `[<time> <LEVEL> <target>] <message>`;
//! - `json`: one object per line, `{"ts":…,"level":…,"target":…,"msg":…}` plus a member per
//!   key-value of the record (the access line's `method`, `path`, `status`, …). Strings are
//!   escaped by serde_json, so no message can break a line or forge another.

use std::io::{self, BufWriter, Write};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::OnceLock;
use std::time::Duration;

use env_logger::fmt::Formatter;
use log::kv::{self, VisitSource};

use crate::config::LogFormat;

/// Builds and installs the logger. Call once, after the settings are read.
pub fn init(format: LogFormat) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if format == LogFormat::Json {
        builder.format(write_json);
    }
    let Ok(queue) = start_writer(io::stderr()) else {
        // No thread to write with: write in the caller, as env_logger does by default.
        let _ = builder.try_init();
        return;
    };
    builder.target(env_logger::Target::Pipe(Box::new(QueueWriter(
        queue.clone(),
    ))));
    // A second call (tests) keeps the first logger.
    if builder.try_init().is_ok() {
        let _ = QUEUE.set(queue);
    }
}

/// Lines queued at most; a burst beyond it makes the loggers wait for the writer, as a
/// synchronous logger would, rather than grow memory or drop lines.
const QUEUE_LINES: usize = 16 * 1024;
/// The writer's sleep between drains: short while lines come, longer while none do.
const MIN_PAUSE: Duration = Duration::from_millis(5);
const MAX_PAUSE: Duration = Duration::from_millis(80);
/// How long [`flush`] waits for the writer before giving up.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

enum Message {
    Line(Vec<u8>),
    Flush(SyncSender<()>),
}

static QUEUE: OnceLock<SyncSender<Message>> = OnceLock::new();

/// Waits until every line logged so far is written (bounded by a timeout).
pub fn flush() {
    let Some(queue) = QUEUE.get() else { return };
    let (done, written) = mpsc::sync_channel(1);
    if queue.send(Message::Flush(done)).is_ok() {
        let _ = written.recv_timeout(FLUSH_TIMEOUT);
    }
}

/// The logger's side of the queue. env_logger hands it one whole record per `write_all`, then
/// flushes, which only the writer thread does for real.
struct QueueWriter(SyncSender<Message>);

impl Write for QueueWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .send(Message::Line(buf.to_vec()))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "log writer stopped"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn start_writer<W: Write + Send + 'static>(out: W) -> io::Result<SyncSender<Message>> {
    let (queue, lines) = mpsc::sync_channel(QUEUE_LINES);
    std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_lines(lines, out))?;
    Ok(queue)
}

/// Drains the queue, writes what it held in one go, then sleeps: a logging request thread never
/// wakes the writer (a wake-up per line cost more CPU than the write it saved, measured with
/// bench/logging.sh). The sleep grows while the queue stays empty, so an idle server wakes the
/// writer a few times a second at most.
fn write_lines<W: Write>(lines: Receiver<Message>, out: W) {
    let mut out = BufWriter::with_capacity(64 * 1024, out);
    let mut acks = Vec::new();
    let mut pause = MIN_PAUSE;
    loop {
        let mut received = false;
        let mut stopped = false;
        loop {
            match lines.try_recv() {
                // A failed write has nowhere to be reported; the next line tries again.
                Ok(Message::Line(line)) => drop(out.write_all(&line)),
                Ok(Message::Flush(ack)) => acks.push(ack),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    stopped = true;
                    break;
                }
            }
            received = true;
        }
        let _ = out.flush();
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
        if stopped {
            return;
        }
        pause = if received {
            MIN_PAUSE
        } else {
            (pause * 2).min(MAX_PAUSE)
        };
        std::thread::sleep(pause);
    }
}

/// One record as a JSON line.
pub fn write_json(buf: &mut Formatter, record: &log::Record<'_>) -> std::io::Result<()> {
    let mut line = Vec::with_capacity(256);
    json_line(&mut line, &buf.timestamp_micros().to_string(), record)?;
    buf.write_all(&line)
}

fn json_line(out: &mut Vec<u8>, ts: &str, record: &log::Record<'_>) -> std::io::Result<()> {
    out.extend_from_slice(b"{\"ts\":");
    serde_json::to_writer(&mut *out, ts)?;
    out.extend_from_slice(b",\"level\":\"");
    out.extend_from_slice(record.level().as_str().as_bytes());
    out.extend_from_slice(b"\",\"target\":");
    serde_json::to_writer(&mut *out, record.target())?;
    out.extend_from_slice(b",\"msg\":");
    match record.args().as_str() {
        Some(text) => serde_json::to_writer(&mut *out, text)?,
        None => serde_json::to_writer(&mut *out, &record.args().to_string())?,
    }
    let mut members = Members { out, error: None };
    let _ = record.key_values().visit(&mut members);
    if let Some(e) = members.error {
        return Err(e);
    }
    out.extend_from_slice(b"}\n");
    Ok(())
}

/// Writes each key-value as `,"key":value`: numbers and booleans as they are, anything else as
/// a string. Keys that would clash with the line's own members are prefixed.
struct Members<'a> {
    out: &'a mut Vec<u8>,
    error: Option<std::io::Error>,
}

impl<'kvs> VisitSource<'kvs> for Members<'_> {
    fn visit_pair(&mut self, key: kv::Key<'kvs>, value: kv::Value<'kvs>) -> Result<(), kv::Error> {
        let key = key.as_str();
        self.out.push(b',');
        let written = match key {
            "ts" | "level" | "target" | "msg" => {
                serde_json::to_writer(&mut *self.out, &format!("kv_{key}"))
            }
            _ => serde_json::to_writer(&mut *self.out, key),
        }
        .and_then(|()| {
            self.out.push(b':');
            if let Some(b) = value.to_bool() {
                serde_json::to_writer(&mut *self.out, &b)
            } else if let Some(n) = value.to_u64() {
                serde_json::to_writer(&mut *self.out, &n)
            } else if let Some(n) = value.to_i64() {
                serde_json::to_writer(&mut *self.out, &n)
            } else if let Some(x) = value.to_f64().filter(|x| x.is_finite()) {
                // Three decimals are plenty for milliseconds.
                serde_json::to_writer(&mut *self.out, &((x * 1000.0).round() / 1000.0))
            } else if let Some(s) = value.to_borrowed_str() {
                serde_json::to_writer(&mut *self.out, s)
            } else {
                serde_json::to_writer(&mut *self.out, &value.to_string())
            }
        });
        written.map_err(|e| {
            self.error = Some(e.into());
            kv::Error::msg("write failed")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// An output the test can read while the writer thread holds it.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn queued_lines_are_all_written_in_order_by_a_flush() {
        let out = Shared::default();
        let queue = start_writer(out.clone()).unwrap();
        let senders: Vec<_> = (0..4)
            .map(|t| {
                let mut writer = QueueWriter(queue.clone());
                std::thread::spawn(move || {
                    for i in 0..500 {
                        writer.write_all(format!("{t} {i}\n").as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        let (done, written) = mpsc::sync_channel(1);
        queue.send(Message::Flush(done)).unwrap();
        written.recv_timeout(FLUSH_TIMEOUT).unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2000);
        for t in 0..4 {
            let own: Vec<usize> = lines
                .iter()
                .filter_map(|l| l.strip_prefix(&format!("{t} ")))
                .map(|i| i.parse().unwrap())
                .collect();
            assert_eq!(
                own,
                (0..500).collect::<Vec<_>>(),
                "thread {t}'s lines in order"
            );
        }
    }

    fn line(record: &log::Record<'_>) -> serde_json::Value {
        let mut out = Vec::new();
        json_line(&mut out, "2026-12-03T06:23:36.123456Z", record).unwrap();
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
        assert_eq!(out.last(), Some(&b'\n'));
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn a_record_is_one_json_object_with_its_fields() {
        let kvs: [(&str, kv::Value<'_>); 5] = [
            ("method", kv::Value::from("POST")),
            ("status", kv::Value::from(200u16)),
            ("duration_ms", kv::Value::from(1.23456f64)),
            ("client_id", kv::Value::from("ak_x")),
            ("msg", kv::Value::from("clash")),
        ];
        let record = log::Record::builder()
            .args(format_args!("a \"quoted\"\nline"))
            .level(log::Level::Info)
            .target("tessera::access")
            .key_values(&kvs)
            .build();
        let v = line(&record);
        assert_eq!(v["ts"], "2026-12-03T06:23:36.123456Z");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["target"], "tessera::access");
        assert_eq!(v["msg"], "a \"quoted\"\nline");
        assert_eq!(v["method"], "POST");
        assert_eq!(v["status"], 200);
        assert_eq!(v["duration_ms"], 1.235);
        assert_eq!(v["client_id"], "ak_x");
        assert_eq!(v["kv_msg"], "clash");
    }

    #[test]
    fn a_record_without_fields_has_the_four_members() {
        let record = log::Record::builder()
            .args(format_args!("plain"))
            .level(log::Level::Warn)
            .target("x")
            .build();
        let v = line(&record);
        assert_eq!(v.as_object().unwrap().len(), 4, "{v}");
        assert_eq!(v["level"], "WARN");
    }
}
