//! NCRONTAB and TimeSpan schedules: parsing (valid and invalid) and next occurrences in UTC.

use chrono::{DateTime, Utc};
use cosmospark::runtime::manifest::Schedule;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn next_n(schedule: &str, from: &str, n: usize) -> Vec<String> {
    let schedule = Schedule::parse(schedule).unwrap();
    let mut t = at(from);
    let mut out = Vec::new();
    for _ in 0..n {
        t = schedule.next_after(t).unwrap();
        out.push(t.format("%Y-%m-%dT%H:%M:%S").to_string());
    }
    out
}

#[test]
fn next_occurrence_table() {
    let table: &[(&str, &str, &[&str])] = &[
        // The original's schedule: 00:00 on day 15 of every month (5 fields).
        (
            "0 0 15/30 * *",
            "2026-01-20T10:00:00Z",
            &["2026-02-15T00:00:00", "2026-03-15T00:00:00"],
        ),
        (
            "0 0 15/30 * *",
            "2026-01-15T00:00:00Z",
            &["2026-02-15T00:00:00"],
        ),
        (
            "0 */5 * * * *",
            "2026-03-01T10:02:30Z",
            &["2026-03-01T10:05:00", "2026-03-01T10:10:00"],
        ),
        (
            "*/10 * * * * *",
            "2026-03-01T10:00:05Z",
            &["2026-03-01T10:00:10", "2026-03-01T10:00:20"],
        ),
        (
            "30 9 * * MON-FRI",
            "2026-11-20T10:00:00Z",
            &["2026-11-23T09:30:00", "2026-11-24T09:30:00"],
        ),
        // Sunday is 0 and 7.
        (
            "0 0 12 * * 0",
            "2026-11-24T00:00:00Z",
            &["2026-11-29T12:00:00"],
        ),
        (
            "0 0 12 * * 7",
            "2026-11-24T00:00:00Z",
            &["2026-11-29T12:00:00"],
        ),
        (
            "0 0 12 * * sun",
            "2026-11-24T00:00:00Z",
            &["2026-11-29T12:00:00"],
        ),
        (
            "0 0 0 1 jan,jul *",
            "2026-02-01T00:00:00Z",
            &["2026-07-01T00:00:00", "2027-01-01T00:00:00"],
        ),
        (
            "0 15,45 8-10/2 * * *",
            "2026-05-05T08:20:00Z",
            &["2026-05-05T08:45:00", "2026-05-05T10:15:00"],
        ),
        // NCrontab requires day-of-month AND day-of-week: Friday the 13th.
        (
            "0 0 0 13 * FRI",
            "2026-01-01T00:00:00Z",
            &[
                "2026-02-13T00:00:00",
                "2026-03-13T00:00:00",
                "2026-11-13T00:00:00",
            ],
        ),
        // Day 31 skips short months.
        (
            "0 0 0 31 * *",
            "2026-01-31T00:00:00Z",
            &["2026-03-31T00:00:00", "2026-05-31T00:00:00"],
        ),
        (
            "00:30:00",
            "2026-01-01T10:00:00Z",
            &["2026-01-01T10:30:00", "2026-01-01T11:00:00"],
        ),
        (
            "1.00:00:00",
            "2026-01-01T10:00:00Z",
            &["2026-01-02T10:00:00"],
        ),
        // hh:mm is hours and minutes, as .NET TimeSpan.Parse reads it.
        ("00:05", "2026-01-01T10:00:00Z", &["2026-01-01T10:05:00"]),
    ];
    for (schedule, from, expected) in table {
        let got = next_n(schedule, from, expected.len());
        assert_eq!(&got, expected, "{schedule} after {from}");
    }
}

#[test]
fn invalid_schedules_name_the_field_and_value() {
    let table = [
        ("0 0 * *", "found 4 fields"),
        ("0 0 0 0 * * * *", "found 8 fields"),
        ("60 * * * * *", "second field \"60\""),
        ("0 61 * * * *", "minute field \"61\""),
        ("0 0 24 * * *", "hour field \"24\""),
        ("0 0 0 0 * *", "day field \"0\""),
        ("0 0 0 32 * *", "day field \"32\""),
        ("0 0 0 1 13 *", "month field \"13\""),
        ("0 0 0 1 FOO *", "month field \"FOO\""),
        ("0 0 0 * * 8", "day-of-week field \"8\""),
        ("0 0 0 * * L", "day-of-week field \"L\""),
        ("0 0 0 ? * *", "day field \"?\""),
        ("*/0 * * * * *", "second field \"*/0\""),
        ("0 0 10-5 * * *", "hour field \"10-5\""),
        ("0 0,,5 * * * *", "minute field \"0,,5\""),
        (
            "0 0 0 30 2 *",
            "day field \"30\": never occurs in the months \"2\"",
        ),
        ("0 0 31 apr,jun *", "day field \"31\""),
        ("00:61:00", "TimeSpan"),
        ("25:00:00", "TimeSpan"),
        ("99 * * * * *", "second field \"99\""),
        ("0 0 0 31 2 *", "never occurs"),
        ("00:00:00", "greater than zero"),
    ];
    for (schedule, expected) in table {
        let error = Schedule::parse(schedule).unwrap_err().to_string();
        assert!(error.contains(expected), "{schedule:?}: got {error:?}");
    }
}

#[test]
fn sub_minute_schedules_are_detected() {
    let now = at("2026-01-01T00:00:00Z");
    assert!(
        Schedule::parse("*/10 * * * * *")
            .unwrap()
            .is_sub_minute(now)
    );
    assert!(Schedule::parse("00:00:30").unwrap().is_sub_minute(now));
    assert!(!Schedule::parse("0 * * * * *").unwrap().is_sub_minute(now));
    assert!(!Schedule::parse("0 0 15/30 * *").unwrap().is_sub_minute(now));
}
