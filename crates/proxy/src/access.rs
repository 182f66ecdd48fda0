//! The access log: one [`AccessRecord`] per decision, handed to an [`AccessSink`]. Records never
//! carry a credential value, only the name of the header that was added.

use std::fmt::Debug;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::mpsc;

/// Whether the request was forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Forwarded (or tunnelled) upstream.
    Allowed,
    /// Not forwarded.
    Refused,
}

/// One access-log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRecord {
    /// When the request arrived, RFC 3339 UTC with milliseconds.
    pub time: String,
    /// `unix`, or the TCP peer address.
    pub client: String,
    /// HTTP method (`CONNECT` for tunnels).
    pub method: String,
    /// Upstream host as the proxy understood it (empty when it could not be parsed).
    pub host: String,
    /// Upstream port (0 when it could not be parsed).
    pub port: u16,
    /// Path and query, with `key` query parameters removed.
    pub path: String,
    /// Status sent to the client.
    pub status: u16,
    /// Request body bytes (client to upstream; for tunnels, all bytes that way).
    pub bytes_in: u64,
    /// Response body bytes (upstream to client).
    pub bytes_out: u64,
    /// Allowed or refused.
    pub decision: Decision,
    /// Why it was refused or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Name of the credential header added (never its value).
    pub credential: Option<String>,
    /// Set when the upstream is a private address allowed with `--allow-private`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub private_upstream: bool,
    /// From arrival to the end of the response body (or the tunnel), in milliseconds.
    pub duration_ms: u64,
}

impl AccessRecord {
    /// The record as one JSON line (no trailing newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Where access records go.
pub trait AccessSink: Send + Sync + Debug {
    /// Takes one record; must not block for long (it runs on the request path).
    fn record(&self, record: AccessRecord);
}

/// Writes each record as a JSON line on stdout.
#[derive(Debug, Default)]
pub struct StdoutSink;

impl AccessSink for StdoutSink {
    fn record(&self, record: AccessRecord) {
        let mut out = std::io::stdout().lock();
        // A closed stdout must not stop the proxy; the decision was still enforced.
        let _ = writeln!(out, "{}", record.to_json_line());
        let _ = out.flush();
    }
}

/// Sends each record into a channel (tests, embedders).
#[derive(Debug)]
pub struct ChannelSink {
    tx: mpsc::UnboundedSender<AccessRecord>,
}

impl ChannelSink {
    /// A sink and the receiving end of its channel.
    pub fn new() -> (ChannelSink, mpsc::UnboundedReceiver<AccessRecord>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (ChannelSink { tx }, rx)
    }
}

impl AccessSink for ChannelSink {
    fn record(&self, record: AccessRecord) {
        let _ = self.tx.send(record);
    }
}

/// Keeps every record in memory.
#[derive(Debug, Default)]
pub struct MemorySink {
    records: Mutex<Vec<AccessRecord>>,
}

impl MemorySink {
    /// The records so far.
    pub fn records(&self) -> Vec<AccessRecord> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl AccessSink for MemorySink {
    fn record(&self, record: AccessRecord) {
        if let Ok(mut r) = self.records.lock() {
            r.push(record);
        }
    }
}

/// `t` as RFC 3339 UTC with milliseconds, e.g. `2024-03-01T12:34:56.789Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let since = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (year, month, day) = date_of_day(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Year, month, day of the `days`-th day after 1970-01-01 (proleptic Gregorian), computed
/// through 400-year eras counted from March 1st so leap days fall at the end of a year.
fn date_of_day(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = u32::try_from(day_of_year - (153 * month_index + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    })
    .unwrap_or(1);
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_709_210_096_789);
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.789Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.000Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(4_102_444_799);
        assert_eq!(rfc3339(t), "2099-12-31T23:59:59.000Z");
    }

    #[test]
    fn one_line_snapshot() {
        let record = AccessRecord {
            time: "2024-02-29T12:34:56.789Z".into(),
            client: "unix".into(),
            method: "POST".into(),
            host: "api.anthropic.com".into(),
            port: 443,
            path: "/v1/messages".into(),
            status: 200,
            bytes_in: 1234,
            bytes_out: 5678,
            decision: Decision::Allowed,
            reason: None,
            credential: Some("x-api-key".into()),
            private_upstream: false,
            duration_ms: 12,
        };
        insta::assert_snapshot!(record.to_json_line());
        let refused = AccessRecord {
            decision: Decision::Refused,
            status: 403,
            reason: Some("not on the allowlist".into()),
            credential: None,
            private_upstream: true,
            ..record
        };
        insta::assert_snapshot!(refused.to_json_line());
    }
}
