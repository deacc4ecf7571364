//! Graceful shutdown: an invocation in flight when shutdown starts still gets its answer, and the
//! server returns once it has.

use std::sync::Arc;

use cosmospark::runtime::outputs::Outputs;
use cosmospark::runtime::server::{bind_loopback, serve_until};
use cosmospark::runtime::triggers::TimerInfo;
use cosmospark::runtime::{Context, Function, FunctionApp, FunctionError};
use tokio::sync::{Notify, oneshot};

#[tokio::test]
async fn in_flight_invocations_finish_after_shutdown_starts() {
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (handler_started, handler_release) = (Arc::clone(&started), Arc::clone(&release));
    let slow = move |_: TimerInfo, _: Context| {
        let (started, release) = (Arc::clone(&handler_started), Arc::clone(&handler_release));
        async move {
            started.notify_one();
            release.notified().await;
            Ok::<_, FunctionError>(Outputs::new().with_return(serde_json::json!("done")))
        }
    };
    let app = FunctionApp::new()
        .register(Function::trigger("Slow", "timer", slow))
        .expect("registry");
    let listener = bind_loopback(0).await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve_until(listener, app.router(), async move {
        let _ = stopped.await;
    }));

    let request = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/Slow"))
            .body(r#"{"Data":{"timer":{"IsPastDue":false}}}"#)
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("body")
    });
    started.notified().await;
    stop.send(()).expect("signal shutdown");
    tokio::task::yield_now().await;
    assert!(
        !server.is_finished(),
        "the server waits for the in-flight invocation"
    );
    release.notify_one();

    let body = request.await.expect("request task");
    assert!(body.contains("\"ReturnValue\":\"done\""), "{body}");
    server.await.expect("server task").expect("server result");
}
