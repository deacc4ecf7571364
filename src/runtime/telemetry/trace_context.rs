//! W3C trace context (<https://www.w3.org/TR/trace-context/#traceparent-header>): parsing and
//! writing `traceparent`, making a span the child of one, and reading the context the current
//! invocation hands on to the events it emits.
//!
//! With the OpenTelemetry layer installed (export or JSON logs) a span has its own ids and
//! [`traceparent_of`] gives them; the invocation span's ids are those of the OpenTelemetry span
//! the runtime opens beside it ([`InvocationTrace`]). Without the layer the runtime still records
//! the invocation's incoming `traceparent` there, so events carry the trace onward.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::registry::LookupSpan;

/// A parsed `traceparent` (version 00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub sampled: bool,
}

impl TraceParent {
    /// Parses `00-<32 hex>-<16 hex>-<2 hex>`; all-zero ids are invalid, as the spec says.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        // A future version may append fields; version 00 has exactly four.
        if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
            return None;
        }
        let hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !hex(version, 2) || !hex(trace, 32) || !hex(span, 16) || !hex(flags, 2) {
            return None;
        }
        let trace_id = TraceId::from_hex(trace).ok()?;
        let span_id = SpanId::from_hex(span).ok()?;
        if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(Self {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
        })
    }

    pub fn from_span_context(context: &SpanContext) -> Option<Self> {
        context.is_valid().then(|| Self {
            trace_id: context.trace_id(),
            span_id: context.span_id(),
            sampled: context.is_sampled(),
        })
    }

    /// The remote parent context OpenTelemetry continues from.
    pub fn to_context(self) -> opentelemetry::Context {
        let flags = if self.sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        let span = SpanContext::new(
            self.trace_id,
            self.span_id,
            flags,
            true,
            TraceState::default(),
        );
        opentelemetry::Context::new().with_remote_span_context(span)
    }
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id,
            self.span_id,
            u8::from(self.sampled)
        )
    }
}

/// Makes `span` (not entered yet) the child of `traceparent`; a malformed value is ignored,
/// as the spec asks of a receiver. Without the OpenTelemetry layer this does nothing.
pub fn set_parent(span: &tracing::Span, traceparent: &str) {
    if let Some(parent) = TraceParent::parse(traceparent) {
        let _ = span.set_parent(parent.to_context());
    }
}

/// The `traceparent` naming `span` itself (None without the OpenTelemetry layer).
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    if let Some(trace) = invocation_trace(span) {
        return trace.otel.is_some().then(|| trace.context.to_string());
    }
    let context = span.context();
    TraceParent::from_span_context(context.span().span_context()).map(|p| p.to_string())
}

/// What an invocation span knows of its trace, kept in the span's extensions: with
/// OpenTelemetry, the context of the invocation's own OpenTelemetry span (`otel`, its ids in
/// `context`); without it, the incoming `traceparent` (`context`) for [`current_traceparent`].
#[derive(Debug, Clone)]
pub struct InvocationTrace {
    pub context: TraceParent,
    pub otel: Option<opentelemetry::Context>,
}

/// Keeps `trace` on `span` (a no-op when the span is disabled).
pub fn record_invocation_trace(span: &tracing::Span, trace: InvocationTrace) {
    span.with_subscriber(|(id, dispatch)| {
        if let Some(registry) = dispatch.downcast_ref::<tracing_subscriber::Registry>()
            && let Some(span) = registry.span(id)
        {
            span.extensions_mut().insert(trace);
        }
    });
}

/// The [`InvocationTrace`] kept on `span` itself.
fn invocation_trace(span: &tracing::Span) -> Option<InvocationTrace> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        registry
            .span(id)?
            .extensions()
            .get::<InvocationTrace>()
            .cloned()
    })
    .flatten()
}

/// The `traceparent` an event emitted now should carry: the current span's own context when
/// spans have ids, else the current invocation's incoming `traceparent`; None outside an
/// invocation without either.
pub fn current_traceparent() -> Option<String> {
    let span = tracing::Span::current();
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let current = registry.span(id)?;
        let is_invocation = current.extensions().get::<InvocationTrace>().is_some();
        if !is_invocation && let Some(own) = traceparent_of(&span) {
            return Some(own);
        }
        current.scope().find_map(|span| {
            span.extensions()
                .get::<InvocationTrace>()
                .map(|trace| trace.context.to_string())
        })
    })
    .flatten()
}

/// The member an emitted JSON object (a document, an event's `data`, a Web PubSub message)
/// carries the trace context in.
pub const TRACEPARENT_MEMBER: &str = "traceparent";

/// Sets `traceparent` on `value` (a JSON object) to [`current_traceparent`]; leaves it as it is
/// outside a traced invocation or when it is not an object.
pub fn stamp(value: &mut serde_json::Value) {
    if let serde_json::Value::Object(object) = value
        && let Some(traceparent) = current_traceparent()
    {
        object.insert(
            TRACEPARENT_MEMBER.to_owned(),
            serde_json::Value::String(traceparent),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_rejects_what_the_spec_rejects() {
        let text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceParent::parse(text).unwrap();
        assert!(parsed.sampled);
        assert_eq!(parsed.to_string(), text);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert!(TraceParent::parse(bad).is_none(), "{bad}");
        }
        // A later version may add fields after the flags.
        assert!(
            TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x")
                .is_some_and(|p| !p.sampled)
        );
    }
}
