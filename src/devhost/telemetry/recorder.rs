//! What the platform invoked, recorded by the platform itself (as the Functions host records
//! its invocations): per function the count, the failures and a duration histogram, plus a
//! bounded ring of the latest invocations with the trace context each was given, grouped by
//! trace id into waterfalls. Memory is bounded: one fixed-size histogram per declared function
//! and [`RECENT`] invocations.

use crate::runtime::telemetry::trace_context::TraceParent;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::watch;

/// Invocations kept for the trace view.
pub const RECENT: usize = 1000;
/// Longest error text kept per invocation.
const ERROR_CHARS: usize = 500;
/// Durations are recorded in microseconds, from 1 µs to one hour (the largest `functionTimeout`
/// outside Premium plans); longer ones count as one hour.
const MAX_MICROS: u64 = 3_600_000_000;
/// Two significant digits: percentiles within 1%, about 13 kB per function.
const SIGNIFICANT_DIGITS: u8 = 2;

/// One finished invocation, as the invoker reports it.
#[derive(Debug, Clone)]
pub struct Completed<'a> {
    pub function: &'a str,
    pub invocation_id: &'a str,
    /// The W3C `traceparent` the invocation was given.
    pub traceparent: &'a str,
    pub started_at: DateTime<Utc>,
    pub duration: Duration,
    /// Why it failed; `None` when it succeeded.
    pub error: Option<String>,
}

/// The parts of a W3C `traceparent` (`version-traceid-parentid-flags`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: String,
    pub parent_id: String,
}

impl TraceContext {
    /// Parses a `traceparent` with the runtime's W3C reader
    /// ([`crate::runtime::telemetry::trace_context::TraceParent`]); `None` when it is invalid.
    pub fn parse(traceparent: &str) -> Option<Self> {
        let parsed = TraceParent::parse(traceparent)?;
        Some(Self {
            trace_id: parsed.trace_id.to_string(),
            parent_id: parsed.span_id.to_string(),
        })
    }
}

/// One recorded invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Invocation {
    pub function: String,
    pub invocation_id: String,
    pub trace_id: Option<String>,
    /// The span id of the `traceparent` the invocation was given.
    pub parent_id: Option<String>,
    pub started_at: DateTime<Utc>,
    #[serde(rename = "durationMs", serialize_with = "millis")]
    pub duration: Duration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn millis<S: serde::Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(duration.as_secs_f64() * 1000.0)
}

/// A function's figures since the platform started.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionStats {
    pub function: String,
    pub invocations: u64,
    pub failures: u64,
    /// Median duration in milliseconds; `None` before the first invocation.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

/// One span of a trace: an invocation placed on the trace's time axis.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    pub function: String,
    pub invocation_id: String,
    pub parent_id: Option<String>,
    /// Milliseconds after the trace's first span started.
    pub offset_ms: f64,
    pub duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The recorded invocations of one trace, in start order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    pub trace_id: String,
    pub started_at: DateTime<Utc>,
    /// From the first span's start to the last span's end.
    pub duration_ms: f64,
    pub spans: Vec<Span>,
}

struct Stats {
    invocations: u64,
    failures: u64,
    durations: Histogram<u32>,
}

impl Stats {
    fn new() -> Self {
        Self {
            invocations: 0,
            failures: 0,
            durations: Histogram::new_with_bounds(1, MAX_MICROS, SIGNIFICANT_DIGITS)
                .expect("constant bounds are valid"),
        }
    }

    fn quantile_ms(&self, quantile: f64) -> Option<f64> {
        (!self.durations.is_empty())
            .then(|| self.durations.value_at_quantile(quantile) as f64 / 1000.0)
    }
}

#[derive(Default)]
struct State {
    functions: BTreeMap<String, Stats>,
    recent: VecDeque<Invocation>,
}

/// The platform's invocation records. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct Recorder {
    state: Arc<Mutex<State>>,
    /// Counts recorded invocations, so a live view can wait for the next one.
    recorded: Arc<watch::Sender<u64>>,
    capacity: usize,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::with_capacity(RECENT)
    }
}

impl Recorder {
    /// A recorder keeping the latest `capacity` invocations.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            state: Arc::default(),
            recorded: Arc::new(watch::Sender::new(0)),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update is small and leaves the state consistent, even if a holder panicked.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one finished invocation.
    pub fn record(&self, done: Completed<'_>) {
        let micros = u64::try_from(done.duration.as_micros()).unwrap_or(u64::MAX);
        let context = TraceContext::parse(done.traceparent);
        let invocation = Invocation {
            function: done.function.to_owned(),
            invocation_id: done.invocation_id.to_owned(),
            trace_id: context.as_ref().map(|c| c.trace_id.clone()),
            parent_id: context.map(|c| c.parent_id),
            started_at: done.started_at,
            duration: done.duration,
            error: done.error.map(|e| truncate(e, ERROR_CHARS)),
        };
        {
            let mut state = self.lock();
            let stats = state
                .functions
                .entry(invocation.function.clone())
                .or_insert_with(Stats::new);
            stats.invocations += 1;
            stats.failures += u64::from(invocation.error.is_some());
            stats
                .durations
                .saturating_record(micros.clamp(1, MAX_MICROS));
            if state.recent.len() == self.capacity {
                state.recent.pop_front();
            }
            if self.capacity > 0 {
                state.recent.push_back(invocation);
            }
        }
        self.recorded.send_modify(|n| *n += 1);
    }

    /// Wakes when an invocation is recorded.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.recorded.subscribe()
    }

    /// The figures of each function in `functions` (zeros for those never invoked), then of
    /// any other function recorded, by name.
    pub fn functions<'a>(
        &self,
        functions: impl IntoIterator<Item = &'a str>,
    ) -> Vec<FunctionStats> {
        let state = self.lock();
        let mut listed: Vec<FunctionStats> = functions
            .into_iter()
            .map(|name| stats_of(name, state.functions.get(name)))
            .collect();
        for (name, stats) in &state.functions {
            if !listed.iter().any(|s| &s.function == name) {
                listed.push(stats_of(name, Some(stats)));
            }
        }
        listed
    }

    /// The latest invocations, oldest first.
    pub fn recent(&self) -> Vec<Invocation> {
        self.lock().recent.iter().cloned().collect()
    }

    /// The `limit` traces that ended last, latest first: the recorded invocations grouped by
    /// trace id, each as spans on the trace's time axis.
    pub fn traces(&self, limit: usize) -> Vec<Trace> {
        let mut groups: HashMap<&str, Vec<&Invocation>> = HashMap::new();
        let state = self.lock();
        for invocation in &state.recent {
            if let Some(trace) = &invocation.trace_id {
                groups.entry(trace).or_default().push(invocation);
            }
        }
        let mut traces: Vec<(DateTime<Utc>, Trace)> = groups
            .into_iter()
            .map(|(trace_id, mut spans)| {
                spans.sort_by_key(|s| s.started_at);
                let start = spans[0].started_at;
                let end = spans.iter().map(|s| end_of(s)).max().unwrap_or(start);
                let trace = Trace {
                    trace_id: trace_id.to_owned(),
                    started_at: start,
                    duration_ms: ms_between(start, end),
                    spans: spans
                        .into_iter()
                        .map(|s| Span {
                            function: s.function.clone(),
                            invocation_id: s.invocation_id.clone(),
                            parent_id: s.parent_id.clone(),
                            offset_ms: ms_between(start, s.started_at),
                            duration_ms: s.duration.as_secs_f64() * 1000.0,
                            error: s.error.clone(),
                        })
                        .collect(),
                };
                (end, trace)
            })
            .collect();
        traces.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.trace_id.cmp(&b.1.trace_id)));
        traces.into_iter().take(limit).map(|(_, t)| t).collect()
    }
}

fn stats_of(name: &str, stats: Option<&Stats>) -> FunctionStats {
    FunctionStats {
        function: name.to_owned(),
        invocations: stats.map_or(0, |s| s.invocations),
        failures: stats.map_or(0, |s| s.failures),
        p50_ms: stats.and_then(|s| s.quantile_ms(0.5)),
        p99_ms: stats.and_then(|s| s.quantile_ms(0.99)),
        max_ms: stats.and_then(|s| s.quantile_ms(1.0)),
    }
}

fn end_of(invocation: &Invocation) -> DateTime<Utc> {
    invocation.started_at
        + chrono::Duration::from_std(invocation.duration).unwrap_or(chrono::Duration::zero())
}

fn ms_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from)
        .num_microseconds()
        .map_or(f64::MAX, |us| us as f64 / 1000.0)
}

fn truncate(mut text: String, chars: usize) -> String {
    if let Some((at, _)) = text.char_indices().nth(chars) {
        text.truncate(at);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE_A: &str = "0af7651916cd43dd8448eb211c80319c";
    const TRACE_B: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    fn record(
        recorder: &Recorder,
        function: &str,
        trace: &str,
        start_ms: i64,
        duration_ms: u64,
        error: Option<&str>,
    ) {
        let traceparent = format!("00-{trace}-b7ad6b7169203331-01");
        recorder.record(Completed {
            function,
            invocation_id: &format!("{function}-{start_ms}"),
            traceparent: &traceparent,
            started_at: at(start_ms),
            duration: Duration::from_millis(duration_ms),
            error: error.map(str::to_owned),
        });
    }

    #[test]
    fn percentiles_come_from_the_recorded_durations() {
        let recorder = Recorder::default();
        // 1..=100 ms: the median is 50 ms and the 99th percentile 99 ms (within 1%).
        for ms in 1..=100 {
            record(&recorder, "Relay", TRACE_A, ms, ms as u64, None);
        }
        record(&recorder, "Relay", TRACE_A, 0, 3, Some("boom"));
        let stats = &recorder.functions(["Relay"])[0];
        assert_eq!((stats.invocations, stats.failures), (101, 1));
        let near = |value: Option<f64>, expected: f64| {
            let value = value.unwrap();
            assert!(
                (value - expected).abs() <= expected * 0.01,
                "{value} vs {expected}"
            );
        };
        near(stats.p50_ms, 50.0);
        near(stats.p99_ms, 99.0);
        near(stats.max_ms, 100.0);
    }

    #[test]
    fn functions_never_invoked_are_listed_with_zeros() {
        let recorder = Recorder::default();
        record(&recorder, "Other", TRACE_A, 0, 1, None);
        let listed = recorder.functions(["Quiet"]);
        assert_eq!(listed.len(), 2);
        assert_eq!(
            (
                listed[0].function.as_str(),
                listed[0].invocations,
                listed[0].p50_ms
            ),
            ("Quiet", 0, None)
        );
        assert_eq!(
            (listed[1].function.as_str(), listed[1].invocations),
            ("Other", 1)
        );
    }

    #[test]
    fn the_ring_keeps_only_the_latest_invocations() {
        let recorder = Recorder::with_capacity(3);
        for start in 0..10 {
            record(&recorder, "F", TRACE_A, start, 1, None);
        }
        let recent = recorder.recent();
        let ids: Vec<&str> = recent.iter().map(|i| i.invocation_id.as_str()).collect();
        assert_eq!(ids, ["F-7", "F-8", "F-9"]);
        // The counters still count every invocation.
        assert_eq!(recorder.functions(["F"])[0].invocations, 10);
    }

    #[test]
    fn durations_beyond_the_range_saturate_instead_of_failing() {
        let recorder = Recorder::default();
        recorder.record(Completed {
            function: "Slow",
            invocation_id: "1",
            traceparent: "",
            started_at: at(0),
            duration: Duration::from_secs(7200),
            error: None,
        });
        recorder.record(Completed {
            function: "Slow",
            invocation_id: "2",
            traceparent: "",
            started_at: at(0),
            duration: Duration::ZERO,
            error: None,
        });
        let stats = &recorder.functions(["Slow"])[0];
        assert_eq!(stats.invocations, 2);
        assert!(stats.max_ms.unwrap() >= 3_600_000.0 * 0.99);
    }

    #[test]
    fn traces_group_spans_by_trace_id_on_one_time_axis() {
        let recorder = Recorder::default();
        record(&recorder, "SendMessage", TRACE_A, 0, 10, None);
        record(&recorder, "Other", TRACE_B, 5, 2, None);
        record(&recorder, "ChatsRelay", TRACE_A, 20, 5, None);
        record(&recorder, "Notify", TRACE_A, 30, 8, Some("hub down"));
        let traces = recorder.traces(10);
        assert_eq!(traces.len(), 2);
        // TRACE_A ended last (at 38 ms), so it comes first.
        let a = &traces[0];
        assert_eq!(a.trace_id, TRACE_A);
        assert_eq!(a.started_at, at(0));
        assert_eq!(a.duration_ms, 38.0);
        let spans: Vec<(&str, f64, f64)> = a
            .spans
            .iter()
            .map(|s| (s.function.as_str(), s.offset_ms, s.duration_ms))
            .collect();
        assert_eq!(
            spans,
            [
                ("SendMessage", 0.0, 10.0),
                ("ChatsRelay", 20.0, 5.0),
                ("Notify", 30.0, 8.0)
            ]
        );
        assert_eq!(a.spans[2].error.as_deref(), Some("hub down"));
        assert_eq!(a.spans[0].parent_id.as_deref(), Some("b7ad6b7169203331"));
        assert_eq!(traces[1].spans.len(), 1);
        assert_eq!(recorder.traces(1).len(), 1);
    }

    #[test]
    fn invocations_without_a_valid_traceparent_are_in_no_trace() {
        let recorder = Recorder::default();
        for (i, bad) in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
        ]
        .into_iter()
        .enumerate()
        {
            recorder.record(Completed {
                function: "F",
                invocation_id: &i.to_string(),
                traceparent: bad,
                started_at: at(0),
                duration: Duration::from_millis(1),
                error: None,
            });
        }
        assert!(recorder.traces(10).is_empty());
        assert!(recorder.recent().iter().all(|i| i.trace_id.is_none()));
        assert_eq!(
            TraceContext::parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra"),
            Some(TraceContext {
                trace_id: TRACE_A.into(),
                parent_id: "b7ad6b7169203331".into()
            })
        );
    }

    #[test]
    fn long_errors_are_cut() {
        let recorder = Recorder::default();
        record(&recorder, "F", TRACE_A, 0, 1, Some(&"é".repeat(2000)));
        let error = recorder.recent()[0].error.clone().unwrap();
        assert_eq!(error.chars().count(), ERROR_CHARS + 1);
    }

    #[test]
    fn recording_wakes_subscribers() {
        let recorder = Recorder::default();
        let wake = recorder.subscribe();
        record(&recorder, "F", TRACE_A, 0, 1, None);
        assert!(wake.has_changed().unwrap());
    }
}
