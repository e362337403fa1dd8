//! Where creek's services log: stderr, and each service's own file under
//! `<data-dir>/logs/`; and a bound on how much a flood of bad requests can write.
//!
//! Events that report a rejected request carry the field `rejected = true`
//! (a malformed Kafka frame, a refused produce, a bad statement, …). Per call
//! site, the first [`REJECTED_PER_INTERVAL`] of them in each [`INTERVAL`] are
//! logged; the rest are counted, and one summary line per call site and interval
//! says how many were left out, written when the interval ends (or when the process
//! stops, [`flush_rejected`]).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use tracing::callsite::Identifier;
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer};

/// Rejections logged in full per call site and interval.
pub const REJECTED_PER_INTERVAL: u32 = 5;
/// The interval of the bound (and of the summary lines).
pub const INTERVAL: Duration = Duration::from_secs(10);

/// Logs to stderr, and each service to its own file under `<data-dir>/logs/`
/// (`connect.log`, `schema-registry.log`, `kafka.log`, `ksql.log`): the place to read a
/// connector's errors, like `confluent local services connect log`. Without
/// `to_stderr` (a status screen owns the terminal) only errors reach stderr.
/// Colour goes to stderr only when it is a terminal and `NO_COLOR` is unset.
pub fn init_logging(data_dir: &Path, to_stderr: bool) -> anyhow::Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{filter, fmt, EnvFilter, Registry};

    let dir = data_dir.join("logs");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let level = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let mut file_layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = Vec::new();
    for (name, targets) in [
        ("connect.log", &["creek_connect"][..]),
        ("schema-registry.log", &["creek_schema"][..]),
        ("kafka.log", &["creek_kafka", "creek_log"][..]),
        ("ksql.log", &["creek_sql_engine", "creek_sql"][..]),
    ] {
        let path = dir.join(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let targets: Vec<&'static str> = targets.to_vec();
        file_layers.push(
            fmt::layer()
                .with_ansi(false)
                .with_writer(Arc::new(file))
                .with_filter(filter::filter_fn(move |m| {
                    targets.iter().any(|t| m.target().starts_with(t))
                }))
                .with_filter(level())
                .boxed(),
        );
    }
    // no-color.org: NO_COLOR set to a non-empty value turns colour off.
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let colour = std::io::stderr().is_terminal() && !no_color;
    tracing_subscriber::registry()
        .with(file_layers)
        .with(
            fmt::layer()
                .with_ansi(colour)
                .with_writer(std::io::stderr)
                .with_filter(if to_stderr {
                    level()
                } else {
                    EnvFilter::new("error")
                }),
        )
        .with(RejectionLimiter::global().clone())
        .init();
    Ok(())
}

/// Writes the summary lines still owed (call at shutdown).
pub fn flush_rejected() {
    RejectionLimiter::global().flush(Instant::now() + INTERVAL);
}

/// The per-call-site bound on `rejected = true` events. Its
/// [`Layer::event_enabled`] vetoes an event for every output at once.
#[derive(Clone, Default)]
pub struct RejectionLimiter {
    windows: Arc<Mutex<HashMap<Identifier, Window>>>,
}

struct Window {
    started: Instant,
    logged: u32,
    left_out: u64,
    /// Target and level of the call site, for its summary line.
    target: &'static str,
    level: tracing::Level,
}

impl RejectionLimiter {
    fn global() -> &'static RejectionLimiter {
        static LIMITER: OnceLock<RejectionLimiter> = OnceLock::new();
        LIMITER.get_or_init(RejectionLimiter::default)
    }

    /// Whether this rejection is logged; may first write the summary of the
    /// interval that ended.
    fn admit(&self, event: &Event<'_>, now: Instant) -> bool {
        let meta = event.metadata();
        let mut first_left_out = None;
        let (admit, owed) = {
            let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
            let window = windows.entry(meta.callsite()).or_insert_with(|| Window {
                started: now,
                logged: 0,
                left_out: 0,
                target: meta.target(),
                level: *meta.level(),
            });
            let mut owed = None;
            if now.duration_since(window.started) >= INTERVAL {
                if window.left_out > 0 {
                    owed = Some((window.target, window.level, window.left_out));
                }
                window.started = now;
                window.logged = 0;
                window.left_out = 0;
            }
            let admit = window.logged < REJECTED_PER_INTERVAL;
            if admit {
                window.logged += 1;
            } else {
                window.left_out += 1;
                if window.left_out == 1 {
                    first_left_out = Some(window.started + INTERVAL);
                }
            }
            (admit, owed)
        };
        // The lock is released: the summary is a new event through the same stack.
        if let Some((target, level, count)) = owed {
            summary(target, level, count);
        }
        // The first event left out of an interval schedules that interval's summary,
        // so it is written when the interval ends even if the flood stops (no timer
        // runs while nothing is left out: an idle creek stays idle).
        if let (Some(at), Ok(runtime)) = (first_left_out, tokio::runtime::Handle::try_current()) {
            let limiter = self.clone();
            runtime.spawn(async move {
                tokio::time::sleep_until(at.into()).await;
                limiter.flush(Instant::now());
            });
        }
        admit
    }

    /// Summaries of every interval that ended before `now`.
    fn flush(&self, now: Instant) {
        let owed: Vec<_> = {
            let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
            windows
                .values_mut()
                .filter(|w| w.left_out > 0 && now.duration_since(w.started) >= INTERVAL)
                .map(|w| {
                    let owed = (w.target, w.level, w.left_out);
                    w.left_out = 0;
                    owed
                })
                .collect()
        };
        for (target, level, count) in owed {
            summary(target, level, count);
        }
    }
}

/// One line saying how many rejections a call site left out, in the same
/// service's log file (the file layers route by target, which must be static).
fn summary(target: &str, level: tracing::Level, count: u64) {
    let secs = INTERVAL.as_secs();
    let crate_name = target.split("::").next().unwrap_or(target);
    macro_rules! emit {
        ($target:literal) => {
            if level == tracing::Level::WARN || level == tracing::Level::ERROR {
                tracing::warn!(target: $target, call_site = target, "{count} more rejected requests like the last were not logged (at most {REJECTED_PER_INTERVAL} per {secs} s)");
            } else {
                tracing::info!(target: $target, call_site = target, "{count} more rejected requests like the last were not logged (at most {REJECTED_PER_INTERVAL} per {secs} s)");
            }
        };
    }
    match crate_name {
        "creek_kafka" => emit!("creek_kafka"),
        "creek_connect" => emit!("creek_connect"),
        "creek_schema" => emit!("creek_schema"),
        "creek_sql_engine" => emit!("creek_sql_engine"),
        _ => emit!("creek"),
    }
}

impl<S: Subscriber> Layer<S> for RejectionLimiter {
    fn event_enabled(&self, event: &Event<'_>, _ctx: LayerContext<'_, S>) -> bool {
        if event.metadata().fields().field("rejected").is_none() {
            return true;
        }
        self.admit(event, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tracing_subscriber::layer::SubscriberExt;

    /// Counts the events that reach it, by message prefix.
    #[derive(Clone, Default)]
    struct Counter {
        rejected: Arc<AtomicUsize>,
        summaries: Arc<AtomicUsize>,
        other: Arc<AtomicUsize>,
    }

    impl<S: Subscriber> Layer<S> for Counter {
        fn on_event(&self, event: &Event<'_>, _ctx: LayerContext<'_, S>) {
            let fields = event.metadata().fields();
            if fields.field("rejected").is_some() {
                self.rejected.fetch_add(1, Ordering::SeqCst);
            } else if fields.field("call_site").is_some() {
                self.summaries.fetch_add(1, Ordering::SeqCst);
            } else {
                self.other.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    #[test]
    fn a_flood_of_rejections_is_bounded_with_a_summary() {
        let limiter = RejectionLimiter::default();
        let counter = Counter::default();
        let subscriber = tracing_subscriber::registry()
            .with(counter.clone())
            .with(limiter.clone());
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..10_000 {
                tracing::warn!(target: "creek_kafka", rejected = true, "bad frame {i}");
                tracing::info!(target: "creek_kafka", "ordinary event {i}");
            }
            assert_eq!(
                counter.rejected.load(Ordering::SeqCst),
                REJECTED_PER_INTERVAL as usize
            );
            // Ordinary events are never limited.
            assert_eq!(counter.other.load(Ordering::SeqCst), 10_000);
            assert_eq!(counter.summaries.load(Ordering::SeqCst), 0);
            // After the interval, one summary line for the 9,995 left out.
            limiter.flush(Instant::now() + INTERVAL);
            assert_eq!(counter.summaries.load(Ordering::SeqCst), 1);
            limiter.flush(Instant::now() + INTERVAL);
            assert_eq!(counter.summaries.load(Ordering::SeqCst), 1, "owed once");
        });
    }
}
