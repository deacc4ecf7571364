//! `check`: the manifest against the registry — folders vs handlers, binding names, types and
//! directions, HTTP routes and methods, route collisions, and host.json's custom handler.

use std::path::{Path, PathBuf};

use super::{Binding, FunctionJson, Manifest, ManifestError, RouteTemplate};
use crate::runtime::FunctionApp;
use crate::runtime::function::FunctionDecl;

/// Every disagreement between `manifest` and `app`; `executable` is the binary's name.
pub fn check(manifest: &Manifest, app: &FunctionApp, executable: &str) -> Vec<ManifestError> {
    let mut errors = refusals(manifest, app, executable);
    errors.extend(unhandled_folders(manifest, app));
    errors
}

/// Function folders with no registered handler. The host runs such a folder (and fails every
/// invocation), so the local platform runs it too and reports these as warnings; `check`
/// refuses them.
pub fn unhandled_folders(manifest: &Manifest, app: &FunctionApp) -> Vec<ManifestError> {
    let declarations = app.declarations();
    manifest
        .functions
        .iter()
        .filter(|function| !declarations.iter().any(|decl| decl.name == function.name))
        .map(|function| {
            ManifestError::new(
                &function.file,
                "",
                format!("no handler is registered for function `{}`", function.name),
            )
        })
        .collect()
}

/// The disagreements that `check` and the local platform both refuse.
pub fn refusals(manifest: &Manifest, app: &FunctionApp, executable: &str) -> Vec<ManifestError> {
    let mut errors = check_host(manifest, app, executable);
    let declarations = app.declarations();
    for function in &manifest.functions {
        if let Some(decl) = declarations.iter().find(|decl| decl.name == function.name) {
            errors.extend(check_function(function, decl));
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
        let about = format!("{} binding `{}`", binding.kind.type_name(), binding.name);
        if !binding
            .kind
            .type_name()
            .eq_ignore_ascii_case(&declared.binding_type)
        {
            errors.push(ManifestError::new(
                file,
                format!("{field}.type"),
                format!(
                    "{about}: is `{}` but the handler expects `{}`",
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
                    "{about}: is `{}` but the handler declares `{}`",
                    binding.direction, declared.direction
                ),
            ));
        }
        if index == 0 && !binding.kind.is_trigger() {
            errors.push(ManifestError::new(
                file,
                format!("{field}.type"),
                format!("{about}: the handler's trigger is not a trigger here"),
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
    if let (Some(http), Some((binding, methods, route))) = (&decl.http, function.http_trigger()) {
        let position = function
            .bindings
            .iter()
            .position(|b| std::ptr::eq(b, binding))
            .unwrap_or(0);
        let about = format!("httpTrigger binding `{}`", binding.name);
        let same = RouteTemplate::parse(&http.route)
            .is_ok_and(|declared| declared.shape() == route.shape());
        if !same {
            errors.push(ManifestError::new(
                file,
                format!("bindings[{position}].route"),
                format!(
                    "{about}: is `{route}` but the handler serves `{}`",
                    http.route
                ),
            ));
        }
        let mut declared: Vec<String> = http.methods.clone();
        let mut listed: Vec<String> = methods.to_vec();
        declared.sort();
        listed.sort();
        if declared != listed {
            errors.push(ManifestError::new(
                file,
                format!("bindings[{position}].methods"),
                format!("{about}: are {listed:?} but the handler accepts {declared:?}"),
            ));
        }
    }
    errors
}

/// True when two HTTP triggers would answer the same request: templates of the same shape
/// and overlapping methods (no methods = every method). Stricter than the host, which compares
/// the route texts (`ScriptHost.HttpRoutesConflict`), because `users/{id}` and `users/{userId}`
/// would still answer the same paths.
pub fn routes_collide(
    route_a: &RouteTemplate,
    methods_a: &[String],
    route_b: &RouteTemplate,
    methods_b: &[String],
) -> bool {
    if route_a.shape() != route_b.shape() {
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

/// Azure/azure-functions-host, `src/WebJobs.Script/Host/ScriptHost.cs` (`ValidateFunction`):
/// a second function on a conflicting route is refused.
pub(super) fn check_routes(functions: &[FunctionJson]) -> Vec<ManifestError> {
    let routes: Vec<(&FunctionJson, &Binding, &[String], &RouteTemplate)> = functions
        .iter()
        .filter_map(|function| {
            function
                .http_trigger()
                .map(|(binding, methods, route)| (function, binding, methods, route))
        })
        .collect();
    let mut errors = Vec::new();
    for (index, (function, binding, methods, route)) in routes.iter().enumerate() {
        for (other, _, other_methods, other_route) in &routes[..index] {
            if routes_collide(route, methods, other_route, other_methods) {
                let position = function
                    .bindings
                    .iter()
                    .position(|b| std::ptr::eq(b, *binding))
                    .unwrap_or(0);
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
    use crate::runtime::manifest::RouteTemplate;

    #[test]
    fn collisions() {
        let t = |text| RouteTemplate::parse(text).unwrap();
        let get = vec!["GET".to_owned()];
        let post = vec!["POST".to_owned()];
        assert!(routes_collide(
            &t("users/{id}"),
            &get,
            &t("Users/{userId:int}"),
            &get
        ));
        assert!(!routes_collide(
            &t("users/{id}"),
            &get,
            &t("users/{id}"),
            &post
        ));
        assert!(routes_collide(
            &t("users/{id}"),
            &[],
            &t("users/{x}"),
            &post
        ));
        assert!(!routes_collide(
            &t("users/{id}"),
            &get,
            &t("users/me/x"),
            &get
        ));
    }
}
