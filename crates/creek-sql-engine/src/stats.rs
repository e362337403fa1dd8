//! Per-topic runtime statistics for `DESCRIBE … EXTENDED`, kept by the query
//! loop as ksqlDB's `ConsumerCollector` / `ProducerCollector` /
//! `StreamsErrorCollector` keep them: records a query read from a topic
//! (consumer side), wrote to it (producer side) and failed to read from it.
//! The text is ksqlDB's `MetricCollectors.format`.

use std::collections::{BTreeMap, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// Rates are over this many seconds, like Kafka metrics' default `Rate`
/// (two 30-second samples, at most one complete window behind).
const RATE_WINDOW_SECS: i64 = 30;

#[derive(Default)]
struct Counter {
    total: u64,
    bytes: u64,
    last_ms: i64,
    /// (second, events in it), oldest first, within the rate window.
    recent: VecDeque<(i64, u64)>,
    /// When counting began, so a young counter's rate is over its age.
    first_ms: i64,
}

impl Counter {
    fn add(&mut self, n: u64, bytes: u64, now_ms: i64) {
        if self.total == 0 && self.first_ms == 0 {
            self.first_ms = now_ms;
        }
        self.total += n;
        self.bytes += bytes;
        self.last_ms = now_ms;
        let sec = now_ms.div_euclid(1000);
        match self.recent.back_mut() {
            Some((s, c)) if *s == sec => *c += n,
            _ => self.recent.push_back((sec, n)),
        }
        self.expire(sec);
    }

    fn expire(&mut self, now_sec: i64) {
        while self
            .recent
            .front()
            .is_some_and(|(s, _)| *s <= now_sec - RATE_WINDOW_SECS)
        {
            self.recent.pop_front();
        }
    }

    fn rate(&mut self, now_ms: i64) -> f64 {
        self.expire(now_ms.div_euclid(1000));
        let events: u64 = self.recent.iter().map(|(_, c)| c).sum();
        let span_ms = (now_ms - self.first_ms).clamp(1000, RATE_WINDOW_SECS * 1000);
        events as f64 * 1000.0 / span_ms as f64
    }
}

#[derive(Default)]
struct TopicCounters {
    consumed: Option<Counter>,
    produced: Option<Counter>,
    failed: Option<Counter>,
}

/// The engine's counters, by lower-cased topic name (as ksqlDB keys them).
#[derive(Default)]
pub struct TopicStats {
    topics: Mutex<BTreeMap<String, TopicCounters>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl TopicStats {
    /// A query read `n` records (`bytes` of keys and values) from `topic`.
    pub fn consumed(&self, topic: &str, n: u64, bytes: u64) {
        self.consumed_at(topic, n, bytes, now_ms());
    }

    /// A query wrote `n` records to `topic`.
    pub fn produced(&self, topic: &str, n: u64) {
        self.produced_at(topic, n, now_ms());
    }

    /// A record of `topic` could not be read (it went to the processing log).
    pub fn failed(&self, topic: &str) {
        self.failed_at(topic, now_ms());
    }

    fn entry<R>(&self, topic: &str, f: impl FnOnce(&mut TopicCounters) -> R) -> R {
        let mut topics = self.topics.lock();
        f(topics.entry(topic.to_lowercase()).or_default())
    }

    fn consumed_at(&self, topic: &str, n: u64, bytes: u64, at: i64) {
        if n > 0 {
            self.entry(topic, |t| {
                t.consumed
                    .get_or_insert_with(Counter::default)
                    .add(n, bytes, at)
            });
        }
    }

    fn produced_at(&self, topic: &str, n: u64, at: i64) {
        if n > 0 {
            self.entry(topic, |t| {
                t.produced
                    .get_or_insert_with(Counter::default)
                    .add(n, 0, at)
            });
        }
    }

    fn failed_at(&self, topic: &str, at: i64) {
        self.entry(topic, |t| {
            t.failed.get_or_insert_with(Counter::default).add(1, 0, at)
        });
    }

    /// ksqlDB's `statistics` text of a source's topic; empty when no query
    /// has read or written it.
    pub fn statistics(&self, topic: &str) -> String {
        self.statistics_at(topic, now_ms())
    }

    /// ksqlDB's `errorStats` text of a source's topic.
    pub fn error_stats(&self, topic: &str) -> String {
        self.error_stats_at(topic, now_ms())
    }

    fn statistics_at(&self, topic: &str, now: i64) -> String {
        let mut topics = self.topics.lock();
        let Some(t) = topics.get_mut(&topic.to_lowercase()) else {
            return String::new();
        };
        let mut stats = Vec::new();
        let mut last = 0;
        if let Some(c) = t.consumed.as_mut() {
            stats.push(("consumer-messages-per-sec", c.rate(now)));
            stats.push(("consumer-total-messages", c.total as f64));
            stats.push(("consumer-total-bytes", c.bytes as f64));
            last = c.last_ms;
        }
        if let Some(c) = t.produced.as_mut() {
            stats.push(("messages-per-sec", c.rate(now)));
            stats.push(("total-messages", c.total as f64));
            if last == 0 {
                last = c.last_ms;
            }
        }
        format_stats(&stats, "last-message", last)
    }

    fn error_stats_at(&self, topic: &str, now: i64) -> String {
        let mut topics = self.topics.lock();
        let Some(c) = topics
            .get_mut(&topic.to_lowercase())
            .and_then(|t| t.failed.as_mut())
        else {
            return String::new();
        };
        let stats = [
            ("consumer-failed-messages", c.total as f64),
            ("consumer-failed-messages-per-sec", c.rate(now)),
        ];
        format_stats(&stats, "last-failed", c.last_ms)
    }
}

/// `MetricCollectors.format`: each stat as `%16s:%10.0f` (`%10.2f` when not
/// whole) and a space, then `%16s: ` and the first stat's event time.
fn format_stats(stats: &[(&str, f64)], last_label: &str, last_ms: i64) -> String {
    if stats.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    for (name, value) in stats {
        if *value == value.round() {
            out.push_str(&format!("{name:>16}:{value:>10.0} "));
        } else {
            out.push_str(&format!("{name:>16}:{value:>10.2} "));
        }
    }
    out.push_str(&format!("{last_label:>16}: {:>9}", timestamp_text(last_ms)));
    out
}

/// `TopicSensors.Stat.timestamp`: ISO offset date-time in UTC, `n/a` for none.
fn timestamp_text(ms: i64) -> String {
    if ms == 0 {
        return "n/a".into();
    }
    match chrono::DateTime::from_timestamp_millis(ms) {
        // java.time's ISO_OFFSET_DATE_TIME drops a zero fraction.
        Some(t) if ms % 1000 == 0 => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => "n/a".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_formats_like_ksqldb() {
        let s = TopicStats::default();
        assert_eq!(s.statistics("orders"), "");
        assert_eq!(s.error_stats("orders"), "");
        let t0 = 1_538_842_403_035;
        s.consumed_at("Orders", 3, 30, t0);
        s.consumed_at("orders", 2, 20, t0 + 2000);
        // Five records over three seconds: not whole, two decimals.
        let text = s.statistics_at("ORDERS", t0 + 3000);
        assert_eq!(
            text,
            "consumer-messages-per-sec:      1.67 consumer-total-messages:         5 \
             consumer-total-bytes:        50     last-message: 2018-10-06T16:13:25.035Z"
        );
        s.produced_at("out", 4, t0);
        assert_eq!(
            s.statistics_at("out", t0 + 2000),
            "messages-per-sec:         2   total-messages:         4     last-message: 2018-10-06T16:13:23.035Z"
        );
        s.failed_at("orders", t0);
        assert!(s
            .error_stats_at("orders", t0 + 1000)
            .starts_with("consumer-failed-messages:         1 "));
    }

    #[test]
    fn rates_cover_the_last_thirty_seconds() {
        let s = TopicStats::default();
        let t0 = 1_000_000_000_000;
        s.consumed_at("t", 60, 0, t0);
        s.consumed_at("t", 30, 0, t0 + 40_000);
        // The first batch left the window: 30 events over 30 s.
        assert!(s.statistics_at("t", t0 + 45_000).starts_with(
            "consumer-messages-per-sec:         1 consumer-total-messages:        90"
        ));
    }
}
