//! Telemetry: the process-wide `tracing` subscriber, OpenTelemetry export, W3C trace context,
//! JSON log lines and the invocation metrics.
//!
//! - [`Config`]: read once from the environment. Spans and metrics are exported only when
//!   `APPLICATIONINSIGHTS_CONNECTION_STRING` (Application Insights) or
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` (any OTLP/HTTP collector) is set; with neither, nothing is.
//! - [`init`]: installs the subscriber; the returned [`Telemetry`] flushes on shutdown.
//! - [`trace_context`]: `traceparent` parsing, span parents, the current invocation's context.
//! - [`metrics`]: invocations, failures, durations, trigger lag, hub connections and messages.
//!
//! Export never fails an invocation: spans and metrics leave through batch processors on their
//! own threads, and only the first failed export of each kind is logged.

mod export;
pub mod invocation;
pub mod json_log;
pub mod metrics;
mod span_events;
pub mod trace_context;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use trace_context::{TraceParent, current_traceparent, set_parent, stamp, traceparent_of};

use super::logs::InvocationLogLayer;

/// `human` (default) or `json`: one JSON object per line with the OTel trace and span ids.
pub const LOG_FORMAT_VAR: &str = "COSMOSPARK_LOG_FORMAT";
/// Application Insights connection string (the Bicep sets it).
pub const APPINSIGHTS_CONNECTION_VAR: &str = "APPLICATIONINSIGHTS_CONNECTION_STRING";
/// `Authorization=AAD` (with `ClientId=<identity>`): telemetry carries an Entra ID token.
pub const APPINSIGHTS_AUTHENTICATION_VAR: &str = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING";
/// Any OTLP/HTTP collector (the exporter appends `/v1/traces` and `/v1/metrics`).
pub const OTLP_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The OTLP transport; only `http/protobuf` is built in.
pub const OTLP_PROTOCOL_VAR: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// The service name spans and metrics carry (default `cosmospark`).
pub const SERVICE_NAME_VAR: &str = "OTEL_SERVICE_NAME";
/// The instrumentation scope of every span and instrument.
pub const SCOPE: &str = "cosmospark";

static SPAN_IDS: AtomicBool = AtomicBool::new(false);
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// The tracer invocation spans are opened with, once [`init`] installed one.
fn tracer() -> Option<&'static SdkTracer> {
    TRACER.get()
}

/// Whether spans get OpenTelemetry ids (export or JSON logs are on); the runtime then reads
/// trigger payloads for their trace context and lag.
pub fn spans_have_ids() -> bool {
    SPAN_IDS.load(Ordering::Relaxed)
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

impl LogFormat {
    /// `COSMOSPARK_LOG_FORMAT`'s value (unset: human).
    pub fn parse(value: Option<&str>) -> Result<Self, TelemetryError> {
        match value.map(str::trim) {
            None | Some("") => Ok(Self::Human),
            Some(text) if text.eq_ignore_ascii_case("human") => Ok(Self::Human),
            Some(text) if text.eq_ignore_ascii_case("json") => Ok(Self::Json),
            Some(text) => Err(TelemetryError::LogFormat(text.to_owned())),
        }
    }
}

/// A telemetry setting that cannot be used; names the variable, never a secret value.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("environment variable `{LOG_FORMAT_VAR}` must be `human` or `json`, got `{0}`")]
    LogFormat(String),
    #[error(
        "environment variable `{OTLP_PROTOCOL_VAR}` must be `http/protobuf` (the only OTLP transport built in), got `{0}`"
    )]
    OtlpProtocol(String),
    #[error("environment variable `{OTLP_ENDPOINT_VAR}` cannot be used: {0}")]
    Otlp(String),
    #[error(
        "environment variable `{APPINSIGHTS_CONNECTION_VAR}` is not an Application Insights connection string: {0}"
    )]
    AppInsights(String),
    #[error("environment variable `{APPINSIGHTS_AUTHENTICATION_VAR}` cannot be used: {0}")]
    AppInsightsAuthentication(String),
}

/// Where telemetry goes, read from the environment once at start.
#[derive(Clone, Default)]
pub struct Config {
    pub log_format: LogFormat,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (the exporter reads the variable itself).
    pub otlp_endpoint: Option<String>,
    pub app_insights: Option<export::AppInsights>,
    pub service_name: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection string holds the instrumentation key: never printed.
        f.debug_struct("Config")
            .field("log_format", &self.log_format)
            .field("otlp_endpoint", &self.otlp_endpoint)
            .field("app_insights", &self.app_insights.is_some())
            .field("service_name", &self.service_name)
            .finish()
    }
}

impl Config {
    /// Reads the variables above through `get` (blank counts as unset).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, TelemetryError> {
        let get = |name: &str| get(name).filter(|value| !value.trim().is_empty());
        let log_format = LogFormat::parse(get(LOG_FORMAT_VAR).as_deref())?;
        if let Some(protocol) = get(OTLP_PROTOCOL_VAR)
            && protocol.trim() != "http/protobuf"
        {
            return Err(TelemetryError::OtlpProtocol(protocol));
        }
        let otlp_endpoint = get(OTLP_ENDPOINT_VAR);
        if let Some(endpoint) = &otlp_endpoint {
            let url = url::Url::parse(endpoint.trim())
                .map_err(|error| TelemetryError::Otlp(format!("not a URL ({error})")))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(TelemetryError::Otlp(format!(
                    "the scheme must be http or https, got `{}`",
                    url.scheme()
                )));
            }
        }
        let app_insights = match get(APPINSIGHTS_CONNECTION_VAR) {
            Some(connection) => Some(export::AppInsights::parse(
                connection,
                get(APPINSIGHTS_AUTHENTICATION_VAR),
            )?),
            None => None,
        };
        Ok(Self {
            log_format,
            otlp_endpoint,
            app_insights,
            service_name: get(SERVICE_NAME_VAR),
        })
    }

    pub fn from_env() -> Result<Self, TelemetryError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Whether spans and metrics leave the process.
    pub fn exports(&self) -> bool {
        self.otlp_endpoint.is_some() || self.app_insights.is_some()
    }
}

/// The installed providers; [`Telemetry::shutdown`] flushes what is still queued.
#[derive(Default)]
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    exporting: bool,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exports(&self) -> bool {
        self.exporting
    }

    /// Exports what is queued, then stops the exporters (blocking; bounded by the exporters'
    /// own timeouts). Failures are logged, never returned: the process is stopping anyway.
    pub fn shutdown(self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some(tracer) = &self.tracer
            && let Err(error) = tracer.shutdown_with_timeout(Duration::from_secs(5))
        {
            tracing::warn!(%error, "cannot flush the last spans");
        }
        if let Some(meter) = &self.meter
            && let Err(error) = meter.shutdown_with_timeout(Duration::from_secs(5))
        {
            tracing::warn!(%error, "cannot flush the last metrics");
        }
    }

    /// [`Telemetry::shutdown`] off the async runtime's worker threads.
    pub async fn shutdown_async(self) {
        if self.tracer.is_none() && self.meter.is_none() {
            return;
        }
        let _ = tokio::task::spawn_blocking(move || self.shutdown()).await;
    }
}

fn env_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
}

/// What `tracing-opentelemetry` turns into OpenTelemetry spans, whatever `RUST_LOG` says about
/// log lines: every span at `info` and above (hosts, outputs) except the invocation span, which
/// [`invocation`] opens with the tracer itself. Events go through [`span_events`] instead.
fn export_filter() -> tracing_subscriber::filter::FilterFn {
    tracing_subscriber::filter::filter_fn(|metadata| {
        metadata.is_span()
            && *metadata.level() <= tracing::Level::INFO
            && metadata.name() != super::logs::INVOCATION_SPAN
    })
}

/// The SDK's report of every failed batch export, named as it emits them (`otel_error!` in
/// opentelemetry-sdk `trace/span_processor.rs` and `span_processor_with_async_runtime.rs`).
const SDK_EXPORT_FAILURES: [&str; 2] = [
    "BatchSpanProcessor.ExportError",
    "BatchSpanProcessor.Export.Error",
];

/// A global filter that drops the SDK's own line for each failed span export: [`export`]
/// logs the first failure of each destination, and the SDK's line per batch would repeat it
/// every few seconds for as long as a collector is down.
fn repeated_export_failures() -> tracing_subscriber::filter::FilterFn {
    tracing_subscriber::filter::filter_fn(|metadata| {
        !(metadata.is_event()
            && metadata.target() == "opentelemetry_sdk"
            && SDK_EXPORT_FAILURES.contains(&metadata.name()))
    })
}

/// What [`span_events`] sees: the same spans, the invocation span included (this also keeps it
/// enabled when `RUST_LOG` hides it from the log lines), and warnings and errors.
fn span_events_filter() -> tracing_subscriber::filter::FilterFn {
    tracing_subscriber::filter::filter_fn(|metadata| {
        if metadata.is_span() {
            *metadata.level() <= tracing::Level::INFO
        } else {
            *metadata.level() <= tracing::Level::WARN
        }
    })
}

/// Installs the process-wide subscriber for `config`: the per-invocation capture that feeds
/// `Logs`, log lines on stderr (filtered by `RUST_LOG`, default `info`) in the chosen format,
/// and — when exporting or writing JSON — the OpenTelemetry layer that gives every span its
/// W3C ids. A second call keeps the first subscriber (and exports nothing more).
pub fn init(config: &Config) -> Result<Telemetry, TelemetryError> {
    let mut telemetry = Telemetry::default();
    let resource = export::resource(config.service_name.as_deref());
    let tracer_provider = if config.exports() || config.log_format == LogFormat::Json {
        let mut builder = SdkTracerProvider::builder().with_resource(resource.clone());
        for processor in export::span_processors(config, &mut telemetry.tasks)? {
            builder = builder.with_span_processor(processor);
        }
        Some(builder.build())
    } else {
        None
    };
    if config.exports() {
        let mut builder = SdkMeterProvider::builder().with_resource(resource);
        for reader in export::metric_readers(config)? {
            builder = builder.with_reader(reader);
        }
        let provider = builder.build();
        opentelemetry::global::set_meter_provider(provider.clone());
        metrics::enable();
        telemetry.meter = Some(provider);
    }
    // Spans carry only the attributes the runtime sets: the layer's per-span extras (source
    // location, thread, target, busy/idle timings) cost a clock read on every poll and an
    // attribute each to build and encode, and no consumer of invocation spans reads them.
    // Context activation makes a span opened inside an invocation the child of the
    // invocation's OpenTelemetry span, which the runtime attaches while the invocation runs.
    let otel_layer = tracer_provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_context_activation(true)
            .with_tracer(provider.tracer(SCOPE))
            .with_filter(export_filter())
    });
    let span_events = tracer_provider
        .as_ref()
        .map(|_| span_events::SpanEvents::default().with_filter(span_events_filter()));
    let human = (config.log_format == LogFormat::Human)
        .then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr));
    let json =
        (config.log_format == LogFormat::Json).then(|| json_log::JsonLines::new(std::io::stderr));
    // The layers `RUST_LOG` governs share one filter: a filtered layer looks its span up in the
    // registry on every enter, exit and close, so each separate filter costs the invocation
    // span a lookup per poll.
    let logs = InvocationLogLayer
        .and_then(human)
        .and_then(json)
        .with_filter(env_filter());
    let installed = tracing_subscriber::registry()
        .with(repeated_export_failures())
        .with(logs)
        .with(otel_layer)
        .with(span_events)
        .try_init()
        .is_ok();
    if installed && let Some(provider) = &tracer_provider {
        let _ = TRACER.set(provider.tracer(SCOPE));
        SPAN_IDS.store(true, Ordering::Relaxed);
    }
    if installed {
        // With JSON logs only, the provider has no processor: it gives ids, exports nothing.
        telemetry.tracer = tracer_provider;
        telemetry.exporting = config.exports();
    }
    Ok(telemetry)
}

/// [`init`] with the configuration from the environment.
pub fn init_from_env() -> Result<Telemetry, TelemetryError> {
    init(&Config::from_env()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn nothing_is_exported_when_neither_variable_is_set() {
        let config = Config::from_lookup(lookup(&[])).unwrap();
        assert!(!config.exports());
        assert_eq!(config.log_format, LogFormat::Human);
        let blank = Config::from_lookup(lookup(&[(OTLP_ENDPOINT_VAR, " ")])).unwrap();
        assert!(!blank.exports());
    }

    #[test]
    fn an_unknown_log_format_names_the_variable() {
        let error = Config::from_lookup(lookup(&[(LOG_FORMAT_VAR, "yaml")])).unwrap_err();
        assert!(error.to_string().contains(LOG_FORMAT_VAR), "{error}");
        assert!(error.to_string().contains("yaml"), "{error}");
        assert_eq!(LogFormat::parse(Some("JSON")).unwrap(), LogFormat::Json);
    }

    #[test]
    fn only_otlp_over_http_protobuf_is_accepted() {
        let error = Config::from_lookup(lookup(&[
            (OTLP_ENDPOINT_VAR, "http://127.0.0.1:4318"),
            (OTLP_PROTOCOL_VAR, "grpc"),
        ]))
        .unwrap_err();
        assert!(error.to_string().contains(OTLP_PROTOCOL_VAR), "{error}");
        let error =
            Config::from_lookup(lookup(&[(OTLP_ENDPOINT_VAR, "collector:4318")])).unwrap_err();
        assert!(error.to_string().contains(OTLP_ENDPOINT_VAR), "{error}");
        let config =
            Config::from_lookup(lookup(&[(OTLP_ENDPOINT_VAR, "http://127.0.0.1:4318")])).unwrap();
        assert!(config.exports());
    }

    #[test]
    fn a_bad_connection_string_is_refused_without_echoing_it() {
        let error = Config::from_lookup(lookup(&[(
            APPINSIGHTS_CONNECTION_VAR,
            "InstrumentationKey=secret-key;Authorization=Bearer",
        )]))
        .unwrap_err();
        assert!(
            error.to_string().contains(APPINSIGHTS_CONNECTION_VAR),
            "{error}"
        );
        assert!(!error.to_string().contains("secret-key"), "{error}");
    }
}
