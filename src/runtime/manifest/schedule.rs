//! Timer schedules: NCRONTAB (6 fields with seconds, or 5 fields) and TimeSpan intervals.
//!
//! The host tries NCRONTAB first (with seconds, then without) and then a TimeSpan
//! (`TimerSchedule.Create` and `CronSchedule.TryCreate` in Azure/azure-webjobs-sdk-extensions,
//! `src/WebJobs.Extensions/Extensions/Timers/Scheduling/`). Fields are parsed and validated
//! here the way .NET NCrontab reads them (names, ranges, steps, lists, `*`; Sunday is 0 or 7;
//! day-of-month and day-of-week must *both* match), then handed to `croner` as explicit value
//! lists to compute occurrences in UTC. A schedule that can never fire (`0 0 0 31 2 *`) is
//! refused rather than left silent.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};

use super::timespan::TimeSpan;

/// Why a schedule was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error(
        "schedule {schedule:?}: expected 6 fields {{second}} {{minute}} {{hour}} {{day}} {{month}} {{day-of-week}}, 5 fields, or a TimeSpan hh:mm:ss; found {found} fields"
    )]
    FieldCount { schedule: String, found: usize },
    #[error("schedule {schedule:?}: {field} field {value:?}: {reason}")]
    Field {
        schedule: String,
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("schedule {schedule:?}: {reason}")]
    Interval { schedule: String, reason: String },
}

/// A parsed timer schedule.
#[derive(Debug, Clone)]
pub enum Schedule {
    Cron { text: String, cron: Box<Cron> },
    Interval { text: String, every: Duration },
}

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS_IN_MONTH: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const FIELDS: [FieldSpec; 6] = [
    FieldSpec {
        name: "second",
        min: 0,
        max: 59,
        names: &[],
    },
    FieldSpec {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    FieldSpec {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    FieldSpec {
        name: "day",
        min: 1,
        max: 31,
        names: &[],
    },
    FieldSpec {
        name: "month",
        min: 1,
        max: 12,
        names: MONTHS,
    },
    FieldSpec {
        name: "day-of-week",
        min: 0,
        max: 7,
        names: DAYS,
    },
];

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

impl Eq for Schedule {}

impl Schedule {
    /// Parses an NCRONTAB expression (6 or 5 fields) or a TimeSpan interval (`hh:mm:ss`).
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let trimmed = text.trim();
        // One token (`00:30:00`, or `10` = ten days) is a TimeSpan, as the host falls back to.
        if trimmed.contains(':') || !trimmed.contains(char::is_whitespace) {
            return parse_interval(trimmed);
        }
        let mut fields: Vec<&str> = trimmed.split_whitespace().collect();
        match fields.len() {
            6 => {}
            5 => fields.insert(0, "0"),
            found => {
                return Err(ScheduleError::FieldCount {
                    schedule: text.to_owned(),
                    found,
                });
            }
        }
        let mut expanded = Vec::with_capacity(6);
        for (spec, value) in FIELDS.iter().zip(&fields) {
            let values = expand_field(spec, value).map_err(|reason| ScheduleError::Field {
                schedule: text.to_owned(),
                field: spec.name,
                value: (*value).to_owned(),
                reason,
            })?;
            expanded.push(values);
        }
        let (days, months) = (&expanded[3], &expanded[4]);
        let possible = |m: &u32| days.iter().any(|d| *d <= DAYS_IN_MONTH[*m as usize - 1]);
        if !months.iter().any(possible) {
            return Err(ScheduleError::Field {
                schedule: text.to_owned(),
                field: "day",
                value: fields[3].to_owned(),
                reason: format!("never occurs in the months {:?}", fields[4]),
            });
        }
        let lists: Vec<String> = FIELDS
            .iter()
            .zip(&expanded)
            .map(|(spec, values)| to_list(spec, values))
            .collect();
        let pattern = lists.join(" ");
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(&pattern)
            .map_err(|e| ScheduleError::Field {
                schedule: text.to_owned(),
                field: "expression",
                value: pattern.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self::Cron {
            text: trimmed.to_owned(),
            cron: Box::new(cron),
        })
    }

    /// The schedule as written.
    pub fn text(&self) -> &str {
        match self {
            Self::Cron { text, .. } | Self::Interval { text, .. } => text,
        }
    }

    /// The first occurrence strictly after `after`, or `None` if there is none.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Cron { cron, .. } => cron.find_next_occurrence(&after, false).ok(),
            Self::Interval { every, .. } => TimeDelta::from_std(*every)
                .ok()
                .and_then(|d| after.checked_add_signed(d)),
        }
    }

    /// Whether the schedule fires more often than once a minute; the host never monitors
    /// such schedules (their `ScheduleStatus` is `null`).
    pub fn is_sub_minute(&self, now: DateTime<Utc>) -> bool {
        let Some(first) = self.next_after(now) else {
            return false;
        };
        self.next_after(first)
            .is_some_and(|second| second - first < TimeDelta::minutes(1))
    }
}

fn parse_interval(text: &str) -> Result<Schedule, ScheduleError> {
    let every = TimeSpan::parse(text)
        .map_err(|e| ScheduleError::Interval {
            schedule: text.to_owned(),
            reason: e.to_string(),
        })?
        .as_duration();
    if every.is_zero() {
        return Err(ScheduleError::Interval {
            schedule: text.to_owned(),
            reason: "the interval must be greater than zero".to_owned(),
        });
    }
    Ok(Schedule::Interval {
        text: text.to_owned(),
        every,
    })
}

/// Expands one field to the sorted set of values it matches (day-of-week 7 folded into 0).
fn expand_field(spec: &FieldSpec, field: &str) -> Result<Vec<u32>, String> {
    let mut matched = vec![false; spec.max as usize + 1];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("step {step:?} must be a positive number"))?;
                (range, step)
            }
            None => (item, 1),
        };
        let (first, last) = if range == "*" {
            (spec.min, spec.max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(spec, a)?, value(spec, b)?)
        } else {
            let first = value(spec, range)?;
            // `a/n` means from a to the end of the range, as in NCrontab.
            (first, if step > 1 { spec.max } else { first })
        };
        if first > last {
            return Err(format!("range {range:?} runs backwards"));
        }
        for v in (first..=last).step_by(step as usize) {
            matched[v as usize] = true;
        }
    }
    let mut values: Vec<u32> = (spec.min..=spec.max)
        .filter(|v| matched[*v as usize])
        .collect();
    if spec.names == DAYS && values.last() == Some(&7) {
        values.pop();
        if values.first() != Some(&0) {
            values.insert(0, 0);
        }
    }
    Ok(values)
}

fn value(spec: &FieldSpec, text: &str) -> Result<u32, String> {
    if text.is_empty() {
        return Err("empty value".to_owned());
    }
    let upper = text.to_ascii_uppercase();
    if let Some(index) = spec.names.iter().position(|n| *n == upper) {
        let first = if spec.names == MONTHS { 1 } else { 0 };
        return Ok(index as u32 + first);
    }
    let n: u32 = text.parse().map_err(|_| {
        if spec.names.is_empty() {
            format!("{text:?} is not a number")
        } else {
            format!(
                "{text:?} is not a number or a name ({})",
                spec.names.join(", ")
            )
        }
    })?;
    if n < spec.min || n > spec.max {
        return Err(format!("{n} is outside {}-{}", spec.min, spec.max));
    }
    Ok(n)
}

fn to_list(spec: &FieldSpec, values: &[u32]) -> String {
    let full = if spec.names == DAYS {
        7
    } else {
        (spec.max - spec.min + 1) as usize
    };
    if values.len() == full {
        return "*".to_owned();
    }
    let items: Vec<String> = values.iter().map(u32::to_string).collect();
    items.join(",")
}
