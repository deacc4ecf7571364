//! One invocation the way the host makes it: POST the envelope in-process to
//! `FunctionApp::router()` at `/{FunctionName}` with an invocation id and a `traceparent`, read
//! `{Outputs, Logs, ReturnValue}`, then write every output binding. Outputs are written only
//! when the handler succeeded, and a failing output binding fails the invocation.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use tower::ServiceExt;
use tracing::Instrument;
use uuid::Uuid;

use super::backlog::Activity;
use super::envelope::Envelope;
use super::outputs::{OutputError, OutputSinks};
use super::telemetry::{Completed, Recorder};
use crate::runtime::manifest::{FunctionJson, Manifest};
use crate::runtime::telemetry::{self, invocation::faas_trigger};
use crate::runtime::{INVOCATION_ID_HEADER, InvocationResponse, TRACEPARENT_HEADER};

/// The version string the emulated host reports.
pub const HOST_VERSION: &str = "4.1037.0-cosmospark-dev";

/// Why an invocation failed (the host's view: any of these is a failed invocation).
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("function `{0}` has no function.json")]
    UnknownFunction(String),
    #[error("the handler answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the handler's reply is not a response envelope: {0}")]
    Envelope(String),
    #[error("output binding failed: {0}")]
    Output(#[from] OutputError),
    #[error("the invocation exceeded functionTimeout ({0:?})")]
    Timeout(Duration),
    #[error("cannot reach the handler: {0}")]
    Transport(String),
}

/// Invokes functions through the runtime router and writes their outputs.
#[derive(Clone)]
pub struct Invoker {
    router: Router,
    manifest: Arc<Manifest>,
    sinks: OutputSinks,
    activity: Activity,
    recorder: Recorder,
}

impl Invoker {
    pub fn new(router: Router, manifest: Arc<Manifest>, sinks: OutputSinks) -> Self {
        Self {
            router,
            manifest,
            sinks,
            activity: Activity::default(),
            recorder: Recorder::default(),
        }
    }

    /// Every finished invocation's outcome, duration and trace (the dashboard reads it).
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Counts the invocations started and running (the platform's idle signal reads it).
    pub fn activity(&self) -> &Activity {
        &self.activity
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn sinks(&self) -> &OutputSinks {
        &self.sinks
    }

    /// Runs `function` with `envelope` and writes its outputs; returns the response envelope
    /// (HTTP callers read their `http` output from it).
    pub async fn invoke(
        &self,
        function: &str,
        envelope: Envelope,
        traceparent: Option<String>,
    ) -> Result<InvocationResponse, InvokeError> {
        let _running = self.activity.begin();
        let declaration = self
            .manifest
            .function(function)
            .ok_or_else(|| InvokeError::UnknownFunction(function.to_owned()))?;
        let invocation_id = Uuid::new_v4().to_string();
        let binding_type = declaration
            .trigger()
            .map(|trigger| trigger.kind.type_name())
            .unwrap_or_default();
        // The host's own span of the invocation, continuing the trace of whatever caused it
        // (the request, the event, the document); the handler's span is its child.
        let span = tracing::info_span!(
            "host",
            otel.name = %format!("Functions.{}", declaration.name),
            otel.kind = "internal",
            function = %declaration.name,
            faas.trigger = faas_trigger(binding_type),
            invocation_id = %invocation_id,
        );
        if let Some(parent) = &traceparent {
            telemetry::set_parent(&span, parent);
        }
        let traceparent = telemetry::traceparent_of(&span)
            .or(traceparent)
            .unwrap_or_else(new_traceparent);
        let started = std::time::Instant::now();
        let started_at = chrono::Utc::now();
        tracing::info!(parent: &span, "Executing 'Functions.{}' (Id={invocation_id})", declaration.name);
        let outcome = self
            .run(declaration, envelope, &invocation_id, &traceparent)
            .instrument(span.clone())
            .await;
        let duration = started.elapsed();
        self.recorder.record(Completed {
            function: &declaration.name,
            invocation_id: &invocation_id,
            traceparent: &traceparent,
            started_at,
            duration,
            error: outcome.as_ref().err().map(ToString::to_string),
        });
        let elapsed = duration.as_millis();
        match &outcome {
            Ok(_) => tracing::info!(
                parent: &span,
                "Executed 'Functions.{}' (Succeeded, Id={invocation_id}, Duration={elapsed}ms)",
                declaration.name
            ),
            Err(error) => tracing::warn!(
                parent: &span,
                "Executed 'Functions.{}' (Failed, Id={invocation_id}, Duration={elapsed}ms): {error}",
                declaration.name
            ),
        }
        outcome
    }

    async fn run(
        &self,
        declaration: &FunctionJson,
        envelope: Envelope,
        invocation_id: &str,
        traceparent: &str,
    ) -> Result<InvocationResponse, InvokeError> {
        let body = serde_json::to_vec(&envelope.to_json())
            .map_err(|error| InvokeError::Transport(error.to_string()))?;
        let request = Request::post(format!("/{}", declaration.name))
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .header(INVOCATION_ID_HEADER, invocation_id)
            .header("x-azure-functions-hostversion", HOST_VERSION)
            .header(
                header::USER_AGENT,
                format!("Azure-Functions-Host/{HOST_VERSION}"),
            )
            .header(TRACEPARENT_HEADER, traceparent)
            .body(Body::from(body))
            .map_err(|error| InvokeError::Transport(error.to_string()))?;
        let call = async {
            let answer = self
                .router
                .clone()
                .oneshot(request)
                .await
                .unwrap_or_else(|never| match never {});
            let status = answer.status();
            let bytes = axum::body::to_bytes(answer.into_body(), usize::MAX)
                .await
                .map_err(|error| InvokeError::Transport(error.to_string()))?;
            if !status.is_success() {
                return Err(InvokeError::Status {
                    status: status.as_u16(),
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                });
            }
            InvocationResponse::from_slice(&bytes)
                .map_err(|error| InvokeError::Envelope(error.to_string()))
        };
        let response = match self.manifest.host.function_timeout {
            Some(limit) => tokio::time::timeout(limit, call)
                .await
                .map_err(|_| InvokeError::Timeout(limit))??,
            None => call.await?,
        };
        for line in response.logs.iter().flatten() {
            // In-process the runtime already logged these lines; keep them for debugging.
            tracing::debug!(function = %declaration.name, invocation_id, "{line}");
        }
        self.sinks
            .write(declaration, &response, traceparent)
            .await?;
        Ok(response)
    }
}

/// A fresh W3C `traceparent` (version 00, sampled).
pub fn new_traceparent() -> String {
    let trace = Uuid::new_v4().simple().to_string();
    let span = &Uuid::new_v4().simple().to_string()[..16];
    format!("00-{trace}-{span}-01")
}
