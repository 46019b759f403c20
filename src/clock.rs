//! The clock: wall time, optionally shifted so that "now" starts at a given
//! instant (`--now`), which makes date rules deterministic in tests.

use chrono::{DateTime, Duration, FixedOffset, Utc};

/// Colombia's offset (America/Bogota has no DST): UTC−05:00.
pub fn bogota() -> FixedOffset {
    FixedOffset::west_opt(5 * 3600).expect("valid offset")
}

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    offset: Duration,
    tz: FixedOffset,
}

impl Default for Clock {
    fn default() -> Self {
        Self {
            offset: Duration::zero(),
            tz: bogota(),
        }
    }
}

impl Clock {
    /// A clock whose "now" is `start` at the moment of the call, then advances normally.
    pub fn starting_at(start: DateTime<FixedOffset>) -> Self {
        Self {
            offset: start.with_timezone(&Utc) - Utc::now(),
            tz: *start.offset(),
        }
    }

    pub fn now(&self) -> DateTime<FixedOffset> {
        (Utc::now() + self.offset).with_timezone(&self.tz)
    }

    /// Wall-clock milliseconds for queue bookkeeping (received, due, leases).
    /// Never shifted: `pasarela replay` and other processes write real time
    /// into the same queue, and a shifted daemon must still see their jobs due.
    pub fn now_millis(&self) -> i64 {
        Utc::now().timestamp_millis()
    }
}

/// An instant in unix milliseconds as Bogotá local time with its offset
/// (or the number, when it is out of range).
pub fn bogota_time(ms: i64) -> String {
    bogota_time_as(ms, "%Y-%m-%d %H:%M:%S%:z")
}

/// [`bogota_time`] in the chrono format `fmt`.
pub fn bogota_time_as(ms: i64, fmt: &str) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&crate::clock::bogota())
                .format(fmt)
                .to_string()
        })
        .unwrap_or_else(|| ms.to_string())
}
