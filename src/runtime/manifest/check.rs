//! `check`: the manifest against the registry — folders vs handlers, binding names, types and
//! directions, HTTP routes and methods, route collisions, and host.json's custom handler.

use std::path::{Path, PathBuf};

use super::{BindingKind, FunctionJson, Manifest, ManifestError};
use crate::runtime::FunctionApp;
use crate::runtime::function::FunctionDecl;

/// Every disagreement between `manifest` and `app`; `executable` is the binary's name.
pub fn check(manifest: &Manifest, app: &FunctionApp, executable: &str) -> Vec<ManifestError> {
    let mut errors = check_host(manifest, app, executable);
    let declarations = app.declarations();
    for function in &manifest.functions {
        match declarations.iter().find(|decl| decl.name == function.name) {
            Some(decl) => errors.extend(check_function(function, decl)),
            None => errors.push(ManifestError::new(
                &function.file,
                "",
                format!("no handler is registered for function `{}`", function.name),
            )),
        }
    }
    for decl in &declarations {
        if !manifest
            .functions
            .iter()
            .any(|function| function.name == decl.name)
        {
            let file = PathBuf::from("functions")
                .join(&decl.name)
                .join("function.json");
            errors.push(ManifestError::new(
                file,
                "",
                format!(
                    "handler `{}` is registered but has no function folder",
                    decl.name
                ),
            ));
        }
    }
    errors.extend(check_routes(manifest));
    errors
}

fn check_host(manifest: &Manifest, app: &FunctionApp, executable: &str) -> Vec<ManifestError> {
    let file = Path::new("host.json");
    let mut errors = Vec::new();
    let host = &manifest.host;
    if host.version != "2.0" {
        errors.push(ManifestError::new(
            file,
            "version",
            format!("expected \"2.0\", got \"{}\"", host.version),
        ));
    }
    match &host.custom_handler {
        None => errors.push(ManifestError::new(
            file,
            "customHandler",
            "missing: the host would not start the binary",
        )),
        Some(handler) => {
            let stem = Path::new(&handler.default_executable_path)
                .file_stem()
                .and_then(|stem| stem.to_str())
                .unwrap_or("");
            if stem != executable {
                errors.push(ManifestError::new(
                    file,
                    "customHandler.description.defaultExecutablePath",
                    format!(
                        "expected the `{executable}` binary, got `{}`",
                        handler.default_executable_path
                    ),
                ));
            }
            if handler.arguments.first().map(String::as_str) != Some("serve") {
                errors.push(ManifestError::new(
                    file,
                    "customHandler.description.arguments",
                    format!("expected [\"serve\"], got {:?}", handler.arguments),
                ));
            }
        }
    }
    if host.extension_bundle.is_none() {
        errors.push(ManifestError::new(
            file,
            "extensionBundle",
            "missing: custom handlers get bindings only from a bundle",
        ));
    }
    if host.route_prefix != app.route_prefix() {
        errors.push(ManifestError::new(
            file,
            "extensions.http.routePrefix",
            format!(
                "is `{}` but the app serves HTTP functions under `{}`",
                host.route_prefix,
                app.route_prefix()
            ),
        ));
    }
    errors
}

fn check_function(function: &FunctionJson, decl: &FunctionDecl) -> Vec<ManifestError> {
    let mut errors = Vec::new();
    let file = &function.file;
    for (index, declared) in decl.bindings.iter().enumerate() {
        let Some((position, binding)) = function
            .bindings
            .iter()
            .enumerate()
            .find(|(_, binding)| binding.name == declared.name)
        else {
            errors.push(ManifestError::new(
                file,
                "bindings",
                format!(
                    "the handler {} {} binding `{}` but function.json has no binding with that name",
                    if declared.direction == crate::runtime::Direction::In { "reads" } else { "writes" },
                    declared.binding_type,
                    declared.name
                ),
            ));
            continue;
        };
        let field = format!("bindings[{position}]");
        if !binding
            .kind
            .type_name()
            .eq_ignore_ascii_case(&declared.binding_type)
        {
            errors.push(ManifestError::new(
                file,
                format!("{field}.type"),
                format!(
                    "is `{}` but the handler expects `{}`",
                    binding.kind.type_name(),
                    declared.binding_type
                ),
            ));
        }
        if binding.direction != declared.direction {
            errors.push(ManifestError::new(
                file,
                format!("{field}.direction"),
                format!(
                    "is `{}` but the handler declares `{}`",
                    binding.direction, declared.direction
                ),
            ));
        }
        if index == 0 && !binding.kind.is_trigger() {
            errors.push(ManifestError::new(
                file,
                format!("{field}.type"),
                "the handler's trigger is not a trigger here",
            ));
        }
    }
    for (position, binding) in function.bindings.iter().enumerate() {
        if !decl
            .bindings
            .iter()
            .any(|declared| declared.name == binding.name)
        {
            errors.push(ManifestError::new(
                file,
                format!("bindings[{position}].name"),
                format!("binding `{}` is not declared by the handler", binding.name),
            ));
        }
    }
    if let (Some(http), Some((position, BindingKind::HttpTrigger { methods, route, .. }))) = (
        &decl.http,
        function
            .bindings
            .iter()
            .enumerate()
            .find(|(_, binding)| matches!(binding.kind, BindingKind::HttpTrigger { .. }))
            .map(|(position, binding)| (position, &binding.kind)),
    ) {
        let manifest_route = route.clone().unwrap_or_else(|| function.name.clone());
        if normalize_route(&manifest_route) != normalize_route(&http.route) {
            errors.push(ManifestError::new(
                file,
                format!("bindings[{position}].route"),
                format!(
                    "is `{manifest_route}` but the handler serves `{}`",
                    http.route
                ),
            ));
        }
        let mut declared: Vec<String> = http.methods.clone();
        let mut listed: Vec<String> = methods.clone();
        declared.sort();
        listed.sort();
        if declared != listed {
            errors.push(ManifestError::new(
                file,
                format!("bindings[{position}].methods"),
                format!("are {listed:?} but the handler accepts {declared:?}"),
            ));
        }
    }
    errors
}

/// A route template reduced to its shape: literals lower-cased, parameter names and
/// constraints dropped.
fn normalize_route(route: &str) -> Vec<String> {
    route
        .split('/')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            if segment.starts_with("{*") {
                "{*}".to_owned()
            } else if segment.starts_with('{') && segment.ends_with('}') {
                "{}".to_owned()
            } else {
                segment.to_ascii_lowercase()
            }
        })
        .collect()
}

/// True when two HTTP triggers would answer the same request: equivalent templates and
/// overlapping methods (no methods = every method).
pub fn routes_collide(
    route_a: &str,
    methods_a: &[String],
    route_b: &str,
    methods_b: &[String],
) -> bool {
    if normalize_route(route_a) != normalize_route(route_b) {
        return false;
    }
    methods_a.is_empty()
        || methods_b.is_empty()
        || methods_a.iter().any(|method| {
            methods_b
                .iter()
                .any(|other| other.eq_ignore_ascii_case(method))
        })
}

fn check_routes(manifest: &Manifest) -> Vec<ManifestError> {
    let mut routes: Vec<(&FunctionJson, usize, String, &Vec<String>)> = Vec::new();
    for function in &manifest.functions {
        for (position, binding) in function.bindings.iter().enumerate() {
            if let BindingKind::HttpTrigger { methods, route, .. } = &binding.kind {
                let route = route.clone().unwrap_or_else(|| function.name.clone());
                routes.push((function, position, route, methods));
            }
        }
    }
    let mut errors = Vec::new();
    for (index, (function, position, route, methods)) in routes.iter().enumerate() {
        for (other, _, other_route, other_methods) in &routes[..index] {
            if routes_collide(route, methods, other_route, other_methods) {
                errors.push(ManifestError::new(
                    &function.file,
                    format!("bindings[{position}].route"),
                    format!(
                        "route `{route}` collides with `{other_route}` of function `{}`",
                        other.name
                    ),
                ));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::routes_collide;

    #[test]
    fn collisions() {
        let get = vec!["GET".to_owned()];
        let post = vec!["POST".to_owned()];
        assert!(routes_collide(
            "users/{id}",
            &get,
            "Users/{userId:int}",
            &get
        ));
        assert!(!routes_collide("users/{id}", &get, "users/{id}", &post));
        assert!(routes_collide("users/{id}", &[], "users/{x}", &post));
        assert!(!routes_collide("users/{id}", &get, "users/me/x", &get));
    }
}
