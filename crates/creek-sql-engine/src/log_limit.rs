//! A bound on log lines caused by clients: the first `burst` events of each
//! interval are logged in full, the rest only counted and reported in one
//! summary line when the interval ends. A client flooding bad requests then
//! grows the log by at most `burst + 1` lines per interval.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// What the caller does with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Log it in full.
    Log,
    /// Count it only. `summary_at` is set for the first suppressed event of an
    /// interval: the caller then reports [`RateLimitedLog::end_interval`] at
    /// that instant.
    Suppress { summary_at: Option<Instant> },
}

pub struct RateLimitedLog {
    burst: u32,
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    started: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl RateLimitedLog {
    pub const fn new(burst: u32, interval: Duration) -> RateLimitedLog {
        RateLimitedLog {
            burst,
            interval,
            state: Mutex::new(State {
                started: None,
                logged: 0,
                suppressed: 0,
            }),
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    pub fn admit(&self, now: Instant) -> Admit {
        let mut st = self.state.lock();
        let expired = st.started.is_none_or(|s| now >= s + self.interval);
        // With suppressed events pending, the interval lasts until its summary
        // is taken, so none of them goes uncounted.
        if expired && st.suppressed == 0 {
            st.started = Some(now);
            st.logged = 0;
        }
        if st.logged < self.burst {
            st.logged += 1;
            return Admit::Log;
        }
        st.suppressed += 1;
        let summary_at = (st.suppressed == 1).then(|| st.started.unwrap_or(now) + self.interval);
        Admit::Suppress { summary_at }
    }

    /// Closes the interval: how many events were suppressed in it.
    pub fn end_interval(&self) -> u64 {
        let mut st = self.state.lock();
        let n = st.suppressed;
        *st = State::default();
        n
    }
}

/// Rejected statements (syntax errors, failed statements) in the ksqlDB server
/// log: five in full per 10 seconds, then a summary.
pub static REJECTED: RateLimitedLog = RateLimitedLog::new(5, Duration::from_secs(10));

/// Logs a rejected statement through [`REJECTED`]; `log` writes the full line.
pub fn rejected(log: impl FnOnce()) {
    match REJECTED.admit(Instant::now()) {
        Admit::Log => log(),
        Admit::Suppress { summary_at: None } => {}
        Admit::Suppress {
            summary_at: Some(at),
        } => {
            let secs = REJECTED.interval().as_secs();
            let report = move || {
                let n = REJECTED.end_interval();
                if n > 0 {
                    tracing::warn!("{n} more rejected statements in the last {secs} s");
                }
            };
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn(async move {
                        tokio::time::sleep_until(at.into()).await;
                        report();
                    });
                }
                // No runtime to wait on: report what was counted right away.
                Err(_) => report(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_one_summary_per_interval() {
        let l = RateLimitedLog::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(l.admit(t0 + Duration::from_millis(i)), Admit::Log);
        }
        assert_eq!(
            l.admit(t0 + Duration::from_secs(1)),
            Admit::Suppress {
                summary_at: Some(t0 + Duration::from_secs(10))
            }
        );
        for _ in 0..1000 {
            assert_eq!(
                l.admit(t0 + Duration::from_secs(2)),
                Admit::Suppress { summary_at: None }
            );
        }
        // Late events before the summary is taken still count in it.
        assert_eq!(
            l.admit(t0 + Duration::from_secs(11)),
            Admit::Suppress { summary_at: None }
        );
        assert_eq!(l.end_interval(), 1002);
        // A new interval logs again.
        assert_eq!(l.admit(t0 + Duration::from_secs(12)), Admit::Log);
        assert_eq!(l.end_interval(), 0);
    }

    #[test]
    fn quiet_intervals_restart_the_burst() {
        let l = RateLimitedLog::new(1, Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(l.admit(t0), Admit::Log);
        assert!(matches!(
            l.admit(t0 + Duration::from_secs(5)),
            Admit::Suppress { .. }
        ));
        assert_eq!(l.end_interval(), 1);
        assert_eq!(l.admit(t0 + Duration::from_secs(30)), Admit::Log);
        assert!(matches!(
            l.admit(t0 + Duration::from_secs(31)),
            Admit::Suppress { summary_at: Some(at) } if at == t0 + Duration::from_secs(40)
        ));
    }
}
