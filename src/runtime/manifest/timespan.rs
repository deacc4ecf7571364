//! .NET `TimeSpan` strings as the host reads them (`functionTimeout`, retry intervals, timer
//! intervals): `TimeSpan.Parse` with the invariant culture.
//!
//! Grammar (learn.microsoft.com, `System.TimeSpan.Parse(String)`):
//! `[ws][-]{ d | [d.]hh:mm[:ss[.ff]] }[ws]` — a bare number is whole days (`"10"` is ten days),
//! `hh:mm` is hours and minutes (`"00:05"` is five minutes), hours 0–23, minutes and seconds
//! 0–59 (`"24:00:00"` and `"00:60:00"` overflow), at most 7 fraction digits. Negative spans
//! parse in .NET, but no setting this app uses accepts one, so they are refused here.

use std::fmt;
use std::time::Duration;

/// The largest day count a .NET `TimeSpan` holds (`TimeSpan.MaxValue.Days`).
const MAX_DAYS: u64 = 10_675_199;

/// A parsed, non-negative .NET `TimeSpan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeSpan(Duration);

/// Why a TimeSpan string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a TimeSpan `[d.]hh:mm[:ss[.fffffff]]`, got `{value}`: {reason}")]
pub struct TimeSpanError {
    pub value: String,
    pub reason: &'static str,
}

impl TimeSpan {
    pub fn parse(text: &str) -> Result<Self, TimeSpanError> {
        let fail = |reason| TimeSpanError {
            value: text.to_owned(),
            reason,
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(fail("empty"));
        }
        if trimmed.starts_with('-') {
            return Err(fail("must not be negative"));
        }
        let mut parts = trimmed.split(':');
        let first = parts.next().unwrap_or_default();
        let Some(minutes) = parts.next() else {
            // A bare number is whole days.
            let days = number(first).ok_or_else(|| fail("neither whole days nor hh:mm[:ss]"))?;
            return days_span(days, 0, 0, 0, 0)
                .ok_or_else(|| fail("more days than a TimeSpan holds"));
        };
        let (days, hours) = match first.split_once('.') {
            Some((d, h)) => (number(d).ok_or_else(|| fail("days must be a number"))?, h),
            None => (0, first),
        };
        let hours = number(hours).ok_or_else(|| fail("hours must be a number"))?;
        let minutes = number(minutes).ok_or_else(|| fail("minutes must be a number"))?;
        let (seconds, nanos) = match parts.next() {
            None => (0, 0),
            Some(s) => parse_seconds(s).ok_or_else(|| fail("seconds must be ss or ss.fffffff"))?,
        };
        if parts.next().is_some() {
            return Err(fail("too many `:` separators"));
        }
        if hours > 23 || minutes > 59 || seconds > 59 {
            return Err(fail("hours must be 0-23, minutes and seconds 0-59"));
        }
        days_span(days, hours, minutes, seconds, nanos)
            .ok_or_else(|| fail("more days than a TimeSpan holds"))
    }

    pub fn as_duration(self) -> Duration {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<TimeSpan> for Duration {
    fn from(span: TimeSpan) -> Self {
        span.0
    }
}

impl fmt::Display for TimeSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.0.as_secs();
        let (days, rest) = (total / 86_400, total % 86_400);
        if days > 0 {
            write!(f, "{days}.")?;
        }
        write!(
            f,
            "{:02}:{:02}:{:02}",
            rest / 3600,
            rest / 60 % 60,
            rest % 60
        )?;
        let ticks = self.0.subsec_nanos() / 100;
        if ticks > 0 {
            write!(f, ".{ticks:07}")?;
        }
        Ok(())
    }
}

fn days_span(days: u64, hours: u64, minutes: u64, seconds: u64, nanos: u32) -> Option<TimeSpan> {
    if days > MAX_DAYS {
        return None;
    }
    let total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds;
    Some(TimeSpan(Duration::new(total, nanos)))
}

fn number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_seconds(text: &str) -> Option<(u64, u32)> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let whole = number(whole)?;
    if fraction.is_empty() {
        return (!text.ends_with('.')).then_some((whole, 0));
    }
    if fraction.len() > 7 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let padded = format!("{fraction:0<9}");
    Some((whole, padded.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(text: &str) -> Result<Duration, TimeSpanError> {
        TimeSpan::parse(text).map(TimeSpan::as_duration)
    }

    /// The examples of the .NET `TimeSpan.Parse(String)` documentation that this grammar covers.
    #[test]
    fn parses_like_dotnet() {
        let ok = [
            ("0", 0),
            ("14", 14 * 86_400),
            ("1:2:3", 3723),
            ("0023:0059:0059", 23 * 3600 + 59 * 60 + 59),
            ("23:0:0", 23 * 3600),
            ("10:0", 10 * 3600),
            ("0:10", 600),
            ("00:05", 300),
            ("10:20:0", 10 * 3600 + 1200),
            ("0.12:00", 12 * 3600),
            ("10.12:00", 10 * 86_400 + 12 * 3600),
            (" 00:00:10 ", 10),
        ];
        for (text, seconds) in ok {
            assert_eq!(span(text), Ok(Duration::from_secs(seconds)), "{text}");
        }
        assert_eq!(span("0:0:0.250"), Ok(Duration::from_millis(250)));
        assert_eq!(span("00:00:00.0000001"), Ok(Duration::from_nanos(100)));
        for bad in [
            "",
            "24:0:0",
            "0:60:0",
            "0:0:60",
            "10:",
            ":10",
            "10:20:",
            ".123",
            "10.",
            "10.12",
            "-00:00:10",
            "00:00:10.",
            "00:00:01.12345678",
            "00:00:00:00",
            "10 seconds",
            "25:00:00",
        ] {
            assert!(span(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn displays_in_dotnet_form() {
        assert_eq!(
            TimeSpan::parse("1.02:03:04.5").unwrap().to_string(),
            "1.02:03:04.5000000"
        );
        assert_eq!(TimeSpan::parse("00:05").unwrap().to_string(), "00:05:00");
    }
}
