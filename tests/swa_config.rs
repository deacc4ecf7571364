//! `staticwebapp.config.json` validation: every bad config is refused at startup with an
//! error that names the field.

use axum::Router;
use cosmospark::devhost::swa::config::SwaConfig;
use cosmospark::devhost::swa::{self, SwaError, SwaOptions};
use serde_json::json;

fn error_for(config: serde_json::Value) -> String {
    SwaConfig::from_json(config.to_string().as_bytes())
        .map(|_| "accepted".to_owned())
        .unwrap_or_else(|e| e.to_string())
}

#[test]
fn bad_configs_name_the_field() {
    let cases = [
        (json!({"routes": {}}), "routes: invalid type"),
        (
            json!({"routes": [{"route": "/a", "allowedRoles": "authenticated"}]}),
            "routes[0].allowedRoles: invalid type",
        ),
        (
            json!({"routes": [{"rewrite": "/a"}]}),
            "routes[0]: missing field `route`",
        ),
        (
            json!({"routes": [{"route": "/a", "allowedRole": ["x"]}]}),
            "unknown field `allowedRole`",
        ),
        (
            json!({"routes": [{"route": "a"}]}),
            "routes[0].route: \"a\" must start with '/'",
        ),
        (
            json!({"routes": [{"route": "/ok"}, {"route": "/a[", "rewrite": "/b"}]}),
            "routes[1].route",
        ),
        (
            json!({"routes": [{"route": "/a", "methods": ["GET", "FETCH"]}]}),
            "routes[0].methods[1]: \"FETCH\"",
        ),
        (
            json!({"routes": [{"route": "/a", "allowedRoles": ["a b"]}]}),
            "routes[0].allowedRoles[0]",
        ),
        (
            json!({"routes": [{"route": "/a", "rewrite": "/b", "redirect": "/c"}]}),
            "routes[0].redirect: cannot be combined",
        ),
        (
            json!({"routes": [{"route": "/a", "rewrite": "b.html"}]}),
            "routes[0].rewrite",
        ),
        (
            json!({"routes": [{"route": "/a", "redirect": "/b", "statusCode": 200}]}),
            "routes[0].statusCode: 200",
        ),
        (
            json!({"routes": [{"route": "/a", "statusCode": 99}]}),
            "routes[0].statusCode: 99",
        ),
        (
            json!({"routes": [{"route": "/a", "headers": {"bad header": "x"}}]}),
            "routes[0].headers.bad header",
        ),
        (
            json!({"navigationFallback": {"exclude": ["/img/*"]}}),
            "navigationFallback: missing field `rewrite`",
        ),
        (
            json!({"navigationFallback": {"rewrite": "index.html"}}),
            "navigationFallback.rewrite",
        ),
        (
            json!({"navigationFallback": {"rewrite": "/index.html", "exclude": ["img/*"]}}),
            "navigationFallback.exclude[0]",
        ),
        (
            json!({"responseOverrides": {"500": {"rewrite": "/e.html"}}}),
            "responseOverrides.500",
        ),
        (
            json!({"responseOverrides": {"401": {"redirect": "/login", "statusCode": 404}}}),
            "responseOverrides.401.statusCode",
        ),
        (
            json!({"globalHeaders": {"x-ok": "line\nbreak"}}),
            "globalHeaders.x-ok",
        ),
        (
            json!({"mimeTypes": {"json": "text/json"}}),
            "mimeTypes.json",
        ),
        (
            json!({"mimeTypes": {".json": "nonsense"}}),
            "mimeTypes..json",
        ),
    ];
    for (config, expected) in cases {
        let error = error_for(config.clone());
        assert!(error.contains(expected), "{config}: got {error:?}");
        assert!(error.starts_with("staticwebapp.config.json: "), "{error}");
    }
}

#[test]
fn the_original_config_and_unknown_top_level_sections_are_accepted() {
    let original = json!({
        "routes": [
            {"route": "/api/*", "methods": ["GET","PUT","POST","PATCH","DELETE"], "allowedRoles": ["authenticated"]},
            {"route": "/login", "rewrite": "/.auth/login/github"},
            {"route": "/logout", "redirect": "/.auth/logout"}
        ],
        "navigationFallback": {"rewrite": "/index.html"},
        "platform": {"apiRuntime": "custom"},
        "auth": {"identityProviders": {}},
        "trailingSlash": "auto"
    });
    assert_eq!(error_for(original), "accepted");
}

#[test]
fn router_refuses_a_bad_config_file_or_a_missing_site() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("staticwebapp.config.json"),
        r#"{"routes": [{"route": "/a", "statusCode": "404"}]}"#,
    )
    .unwrap();
    let error = swa::router(dir.path(), Router::new(), SwaOptions::default())
        .map(|_| ())
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("staticwebapp.config.json: routes[0].statusCode"),
        "{message}"
    );

    std::fs::write(dir.path().join("staticwebapp.config.json"), "{ not json").unwrap();
    let message = swa::router(dir.path(), Router::new(), SwaOptions::default())
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("staticwebapp.config.json: (document): key must be a string"),
        "{message}"
    );

    let missing = dir.path().join("no-such-site");
    assert!(matches!(
        swa::router(&missing, Router::new(), SwaOptions::default()),
        Err(SwaError::SiteRoot(_))
    ));
}
