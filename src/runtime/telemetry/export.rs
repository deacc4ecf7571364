//! The exporters behind [`super::init`]: OTLP over HTTP/protobuf and Application Insights, each
//! behind a batch span processor and a periodic metric reader (both export from their own
//! threads, so an invocation never waits on a collector). Every exporter is wrapped so that its
//! first failure is logged once and later ones are silent: a missing collector must not flood
//! the log, and never fails the invocation that produced the span.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_identity::{ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId};
use opentelemetry::KeyValue;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, Temporality};
use opentelemetry_sdk::trace::{
    BatchConfig, BatchConfigBuilder, BatchSpanProcessor, SpanData, SpanExporter,
};

use super::{Config, SCOPE, TelemetryError};

/// The Entra ID scope of Azure Monitor ingestion (the audience the Application Insights SDKs
/// request when `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` is `Authorization=AAD`; see
/// MicrosoftDocs/azure-docs articles/azure-monitor/app/azure-ad-authentication.md).
const MONITOR_SCOPE: &str = "https://monitor.azure.com//.default";

/// Application Insights: the connection string and, for Entra ID ingestion, the identity.
#[derive(Clone)]
pub struct AppInsights {
    connection_string: String,
    /// `Some` with `Authorization=AAD`: `Some(None)` is the system-assigned identity.
    entra_id: Option<Option<String>>,
}

impl AppInsights {
    /// Validates the connection string (by building an exporter, which parses it) and the
    /// authentication string (`Authorization=AAD[;ClientId=<guid>]`).
    pub fn parse(
        connection_string: String,
        authentication: Option<String>,
    ) -> Result<Self, TelemetryError> {
        // The crate's parse errors name the problem, never the key.
        opentelemetry_application_insights::Exporter::new_from_connection_string(
            &connection_string,
            NoClient,
        )
        .map_err(|error| TelemetryError::AppInsights(error.to_string()))?;
        let entra_id = match authentication {
            None => None,
            Some(text) => Some(parse_authentication(&text)?),
        };
        Ok(Self {
            connection_string,
            entra_id,
        })
    }
}

/// `Authorization=AAD[;ClientId=<id>]` → the client id (None: system-assigned identity).
fn parse_authentication(text: &str) -> Result<Option<String>, TelemetryError> {
    let mut aad = false;
    let mut client_id = None;
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = part.split_once('=') else {
            return Err(TelemetryError::AppInsightsAuthentication(format!(
                "`{part}` is not `key=value`"
            )));
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "authorization" if value.trim().eq_ignore_ascii_case("aad") => aad = true,
            "authorization" => {
                return Err(TelemetryError::AppInsightsAuthentication(
                    "`Authorization` must be `AAD`".to_owned(),
                ));
            }
            "clientid" => client_id = Some(value.trim().to_owned()),
            other => {
                return Err(TelemetryError::AppInsightsAuthentication(format!(
                    "unknown key `{other}` (expected `Authorization` and `ClientId`)"
                )));
            }
        }
    }
    if !aad {
        return Err(TelemetryError::AppInsightsAuthentication(
            "`Authorization=AAD` is missing".to_owned(),
        ));
    }
    Ok(client_id)
}

/// The resource every span and metric carries: `service.name` (`OTEL_SERVICE_NAME`, else
/// `cosmospark`) plus what the SDK's detectors read (`OTEL_RESOURCE_ATTRIBUTES`).
pub(super) fn resource(service_name: Option<&str>) -> Resource {
    Resource::builder()
        .with_service_name(service_name.unwrap_or(SCOPE).to_owned())
        .with_attribute(KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION").to_owned(),
        ))
        .build()
}

/// `OTEL_BSP_MAX_QUEUE_SIZE` / `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, read by the SDK.
const BSP_QUEUE_VAR: &str = "OTEL_BSP_MAX_QUEUE_SIZE";
const BSP_BATCH_VAR: &str = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";

/// The batch processors' settings: the SDK's (which read every `OTEL_BSP_*` variable), with a
/// larger queue and export batch where the variables leave them unset. An invocation span is
/// small and a busy function app ends thousands a second: with the SDK's 512-span batches the
/// export thread sends a request every few milliseconds, each paying the request and the
/// batch's resource and scope encoding again; 2,048-span batches from an 8,192-span queue cut
/// that by four and keep a burst from dropping spans.
fn batch_config(get: impl Fn(&str) -> Option<String>) -> BatchConfig {
    let (queue, batch) = batch_defaults(get);
    let mut builder = BatchConfigBuilder::default();
    if let Some(queue) = queue {
        builder = builder.with_max_queue_size(queue);
    }
    if let Some(batch) = batch {
        builder = builder.with_max_export_batch_size(batch);
    }
    builder.build()
}

/// The queue and batch sizes set over the SDK's: only those the environment leaves unset.
fn batch_defaults(get: impl Fn(&str) -> Option<String>) -> (Option<usize>, Option<usize>) {
    (
        get(BSP_QUEUE_VAR).is_none().then_some(8192),
        get(BSP_BATCH_VAR).is_none().then_some(2048),
    )
}

/// One batch processor per configured destination (see [`batch_config`]).
pub(super) fn span_processors(
    config: &Config,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<Vec<BatchSpanProcessor>, TelemetryError> {
    let mut processors = Vec::new();
    if config.otlp_endpoint.is_some() {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .build()
            .map_err(|error| TelemetryError::Otlp(error.to_string()))?;
        processors.push(
            BatchSpanProcessor::builder(LogOnce::new("OTLP", exporter))
                .with_batch_config(batch_config(|name| std::env::var(name).ok()))
                .build(),
        );
    }
    if let Some(insights) = &config.app_insights {
        let exporter = app_insights_exporter(insights, tasks)?;
        processors.push(
            BatchSpanProcessor::builder(LogOnce::new("Application Insights", exporter))
                .with_batch_config(batch_config(|name| std::env::var(name).ok()))
                .build(),
        );
    }
    Ok(processors)
}

/// One periodic reader per configured destination (the SDK reads
/// `OTEL_METRIC_EXPORT_INTERVAL`).
pub(super) fn metric_readers(
    config: &Config,
) -> Result<Vec<PeriodicReader<LogOnce<MetricExporterKind>>>, TelemetryError> {
    let mut readers = Vec::new();
    if config.otlp_endpoint.is_some() {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_temporality(Temporality::Cumulative)
            .build()
            .map_err(|error| TelemetryError::Otlp(error.to_string()))?;
        readers.push(
            PeriodicReader::builder(LogOnce::new("OTLP", MetricExporterKind::Otlp(exporter)))
                .build(),
        );
    }
    if let Some(insights) = &config.app_insights {
        let mut tasks = Vec::new();
        let exporter = app_insights_exporter(insights, &mut tasks)?;
        // The span exporter's token task serves both; this one is not needed.
        for task in tasks {
            task.abort();
        }
        readers.push(
            PeriodicReader::builder(LogOnce::new(
                "Application Insights",
                MetricExporterKind::AppInsights(Box::new(exporter)),
            ))
            .build(),
        );
    }
    Ok(readers)
}

type AppInsightsExporter = opentelemetry_application_insights::Exporter<IngestionClient>;

fn app_insights_exporter(
    insights: &AppInsights,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<AppInsightsExporter, TelemetryError> {
    let token = match &insights.entra_id {
        None => None,
        Some(client_id) => Some(entra_token(client_id.clone(), tasks)?),
    };
    let client = IngestionClient {
        http: blocking_client(),
        token,
    };
    opentelemetry_application_insights::Exporter::new_from_connection_string(
        &insights.connection_string,
        client,
    )
    .map_err(|error| TelemetryError::AppInsights(error.to_string()))
}

/// The blocking client the exporters' own threads use, built off the async runtime (a
/// blocking client owns a runtime of its own, which may not be created inside another).
fn blocking_client() -> reqwest_blocking::blocking::Client {
    std::thread::spawn(|| {
        reqwest_blocking::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|_| reqwest_blocking::blocking::Client::new())
    })
    .join()
    .unwrap_or_else(|_| reqwest_blocking::blocking::Client::new())
}

/// The managed identity's Azure Monitor token, kept fresh by a task on the async runtime so
/// the exporter thread only reads it.
fn entra_token(
    client_id: Option<String>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<Arc<RwLock<Option<String>>>, TelemetryError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
        TelemetryError::AppInsightsAuthentication(
            "Entra ID telemetry needs the async runtime (serve or dev)".to_owned(),
        )
    })?;
    let options = ManagedIdentityCredentialOptions {
        user_assigned_id: client_id.map(UserAssignedId::ClientId),
        ..Default::default()
    };
    let credential = ManagedIdentityCredential::new(Some(options))
        .map_err(|error| TelemetryError::AppInsightsAuthentication(error.to_string()))?;
    let token = Arc::new(RwLock::new(None));
    let slot = Arc::clone(&token);
    tasks.push(runtime.spawn(async move {
        let mut reported = false;
        loop {
            let wait = match credential.get_token(&[MONITOR_SCOPE], None).await {
                Ok(access) => {
                    if let Ok(mut slot) = slot.write() {
                        *slot = Some(access.token.secret().to_owned());
                    }
                    let left = access.expires_on - time::OffsetDateTime::now_utc();
                    // Refresh five minutes before expiry, at most hourly, at least every 30 s.
                    let seconds = (left.whole_seconds() - 300).clamp(30, 3600);
                    Duration::from_secs(u64::try_from(seconds).unwrap_or(30))
                }
                Err(error) => {
                    if !reported {
                        reported = true;
                        tracing::warn!(%error, "cannot get an Entra ID token for Application Insights; telemetry is dropped until one is issued");
                    }
                    Duration::from_secs(30)
                }
            };
            tokio::time::sleep(wait).await;
        }
    }));
    Ok(token)
}

/// The Application Insights exporter's HTTP client: the blocking client, with the Entra ID
/// bearer token when the component accepts only authenticated telemetry.
#[derive(Clone)]
pub(super) struct IngestionClient {
    http: reqwest_blocking::blocking::Client,
    token: Option<Arc<RwLock<Option<String>>>>,
}

impl fmt::Debug for IngestionClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IngestionClient")
            .field("entra_id", &self.token.is_some())
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl HttpClient for IngestionClient {
    async fn send_bytes(&self, mut request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        if let Some(token) = &self.token {
            let bearer = token
                .read()
                .ok()
                .and_then(|token| token.clone())
                .ok_or("no Entra ID token for Application Insights yet")?;
            let mut value = axum::http::HeaderValue::from_str(&format!("Bearer {bearer}"))?;
            value.set_sensitive(true);
            request
                .headers_mut()
                .insert(axum::http::header::AUTHORIZATION, value);
        }
        self.http.send_bytes(request).await
    }
}

/// Only to validate a connection string: never sends.
#[derive(Debug)]
struct NoClient;

#[async_trait::async_trait]
impl HttpClient for NoClient {
    async fn send_bytes(&self, _request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        Err("not a sending client".into())
    }
}

/// The metric exporters (one reader type for all destinations).
pub(super) enum MetricExporterKind {
    Otlp(opentelemetry_otlp::MetricExporter),
    AppInsights(Box<AppInsightsExporter>),
}

impl fmt::Debug for MetricExporterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Otlp(_) => "MetricExporterKind::Otlp",
            Self::AppInsights(_) => "MetricExporterKind::AppInsights",
        })
    }
}

impl PushMetricExporter for MetricExporterKind {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        match self {
            Self::Otlp(exporter) => exporter.export(metrics).await,
            Self::AppInsights(exporter) => {
                PushMetricExporter::export(exporter.as_ref(), metrics).await
            }
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        match self {
            Self::Otlp(exporter) => exporter.force_flush(),
            Self::AppInsights(exporter) => PushMetricExporter::force_flush(exporter.as_ref()),
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        match self {
            Self::Otlp(exporter) => exporter.shutdown_with_timeout(timeout),
            Self::AppInsights(exporter) => {
                PushMetricExporter::shutdown_with_timeout(exporter.as_ref(), timeout)
            }
        }
    }

    fn temporality(&self) -> Temporality {
        match self {
            Self::Otlp(exporter) => exporter.temporality(),
            Self::AppInsights(exporter) => PushMetricExporter::temporality(exporter.as_ref()),
        }
    }
}

/// An exporter whose first failure is logged (once per destination and signal).
#[derive(Debug)]
pub(super) struct LogOnce<E> {
    destination: &'static str,
    inner: E,
    reported: AtomicBool,
}

impl<E> LogOnce<E> {
    fn new(destination: &'static str, inner: E) -> Self {
        Self {
            destination,
            inner,
            reported: AtomicBool::new(false),
        }
    }

    fn report(&self, signal: &str, error: &dyn fmt::Display) {
        if !self.reported.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                destination = self.destination,
                %error,
                "telemetry export failed ({signal}); invocations go on, later failures are not logged"
            );
        }
    }
}

impl<E: SpanExporter> SpanExporter for LogOnce<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        if let Err(error) = &result {
            self.report("spans", error);
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: PushMetricExporter> PushMetricExporter for LogOnce<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        if let Err(error) = &result {
            self.report("metrics", error);
        }
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_settings_from_the_environment_win() {
        assert_eq!(batch_defaults(|_| None), (Some(8192), Some(2048)));
        // The SDK reads the variables themselves; only the unset ones get our defaults.
        let batch_set = |name: &str| (name == BSP_BATCH_VAR).then(|| "100".to_owned());
        assert_eq!(batch_defaults(batch_set), (Some(8192), None));
    }

    #[test]
    fn the_authentication_string_is_aad_with_an_optional_client_id() {
        assert_eq!(parse_authentication("Authorization=AAD").unwrap(), None);
        assert_eq!(
            parse_authentication("Authorization=AAD;ClientId=abc").unwrap(),
            Some("abc".to_owned())
        );
        assert!(parse_authentication("ClientId=abc").is_err());
        assert!(parse_authentication("Authorization=ikey").is_err());
    }
}
