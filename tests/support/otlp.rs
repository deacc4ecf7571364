//! An in-test OpenTelemetry collector: OTLP over HTTP/protobuf on a loopback port, keeping
//! every span and metric it receives (decoded with `opentelemetry-proto`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;

/// One received span, flattened.
#[derive(Debug, Clone)]
pub struct ExportedSpan {
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    /// The status code: 0 unset, 1 ok, 2 error.
    pub status: i32,
    pub attributes: BTreeMap<String, AttributeValue>,
    pub service_name: Option<String>,
}

/// An attribute value as the test reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    Text(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    Other,
}

impl AttributeValue {
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            _ => None,
        }
    }
}

impl ExportedSpan {
    pub fn text(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).and_then(AttributeValue::text)
    }
}

#[derive(Default)]
struct Received {
    spans: Vec<ExportedSpan>,
    /// Metric name → the attribute sets of its data points.
    metrics: BTreeMap<String, Vec<BTreeMap<String, AttributeValue>>>,
}

/// The collector; stops with the test's runtime.
#[derive(Clone)]
pub struct Collector {
    pub addr: SocketAddr,
    received: Arc<Mutex<Received>>,
}

fn attributes(list: &[KeyValue]) -> BTreeMap<String, AttributeValue> {
    list.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(text)) => AttributeValue::Text(text.clone()),
                Some(AnyValue::IntValue(n)) => AttributeValue::Int(*n),
                Some(AnyValue::DoubleValue(n)) => AttributeValue::Double(*n),
                Some(AnyValue::BoolValue(b)) => AttributeValue::Bool(*b),
                _ => AttributeValue::Other,
            };
            (kv.key.clone(), value)
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn traces(State(received): State<Arc<Mutex<Received>>>, body: Bytes) -> StatusCode {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return StatusCode::BAD_REQUEST;
    };
    let mut received = received.lock().unwrap();
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        let service_name = resource
            .get("service.name")
            .and_then(AttributeValue::text)
            .map(str::to_owned);
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                received.spans.push(ExportedSpan {
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    start_unix_nanos: span.start_time_unix_nano,
                    end_unix_nanos: span.end_time_unix_nano,
                    status: span.status.as_ref().map_or(0, |status| status.code),
                    attributes: attributes(&span.attributes),
                    service_name: service_name.clone(),
                });
            }
        }
    }
    StatusCode::OK
}

async fn metrics(State(received): State<Arc<Mutex<Received>>>, body: Bytes) -> StatusCode {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    let Ok(request) = ExportMetricsServiceRequest::decode(body) else {
        return StatusCode::BAD_REQUEST;
    };
    let mut received = received.lock().unwrap();
    for resource_metrics in request.resource_metrics {
        for scope in resource_metrics.scope_metrics {
            for metric in scope.metrics {
                let points: Vec<BTreeMap<String, AttributeValue>> = match &metric.data {
                    Some(Data::Sum(sum)) => sum
                        .data_points
                        .iter()
                        .map(|p| attributes(&p.attributes))
                        .collect(),
                    Some(Data::Histogram(histogram)) => histogram
                        .data_points
                        .iter()
                        .map(|p| attributes(&p.attributes))
                        .collect(),
                    Some(Data::Gauge(gauge)) => gauge
                        .data_points
                        .iter()
                        .map(|p| attributes(&p.attributes))
                        .collect(),
                    _ => Vec::new(),
                };
                received
                    .metrics
                    .entry(metric.name.clone())
                    .or_default()
                    .extend(points);
            }
        }
    }
    StatusCode::OK
}

impl Collector {
    /// Listens on 127.0.0.1, port 0.
    pub async fn start() -> Collector {
        let received = Arc::new(Mutex::new(Received::default()));
        let app = Router::new()
            .route("/v1/traces", post(traces))
            .route("/v1/metrics", post(metrics))
            .with_state(Arc::clone(&received));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the collector");
        let addr = listener.local_addr().expect("collector address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Collector { addr, received }
    }

    /// `OTEL_EXPORTER_OTLP_ENDPOINT` for this collector.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn spans(&self) -> Vec<ExportedSpan> {
        self.received.lock().unwrap().spans.clone()
    }

    /// The attribute sets of every data point of metric `name` received so far.
    pub fn metric_points(&self, name: &str) -> Vec<BTreeMap<String, AttributeValue>> {
        self.received
            .lock()
            .unwrap()
            .metrics
            .get(name)
            .cloned()
            .unwrap_or_default()
    }
}
