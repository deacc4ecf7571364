//! Checks what the real Bicep compiler would reject but a grammar cannot see: references to
//! undeclared symbols, modules called with missing or unknown parameters, reads of module
//! outputs that do not exist, files loaded from paths that do not exist, and stale or preview
//! API versions.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use support::infra::{BicepFile, bicep_files, shown, unwrap_expression};
use tree_sitter::Node;

/// Bicep's built-in functions and decorators (the `sys` and `az` namespaces).
const BUILT_INS: &[&str] = &[
    "any",
    "array",
    "bool",
    "concat",
    "contains",
    "empty",
    "first",
    "last",
    "length",
    "max",
    "min",
    "range",
    "skip",
    "take",
    "union",
    "intersection",
    "flatten",
    "filter",
    "map",
    "reduce",
    "sort",
    "toObject",
    "items",
    "indexOf",
    "lastIndexOf",
    "split",
    "join",
    "replace",
    "toLower",
    "toUpper",
    "trim",
    "substring",
    "startsWith",
    "endsWith",
    "format",
    "guid",
    "uniqueString",
    "base64",
    "base64ToString",
    "base64ToJson",
    "dataUri",
    "dataUriToString",
    "uri",
    "uriComponent",
    "uriComponentToString",
    "string",
    "int",
    "json",
    "loadJsonContent",
    "loadTextContent",
    "loadFileAsBase64",
    "loadYamlContent",
    "resourceGroup",
    "subscription",
    "tenant",
    "managementGroup",
    "deployment",
    "environment",
    "resourceId",
    "subscriptionResourceId",
    "tenantResourceId",
    "extensionResourceId",
    "managementGroupResourceId",
    "reference",
    "pickZones",
    "providers",
    "utcNow",
    "dateTimeAdd",
    "dateTimeFromEpoch",
    "dateTimeToEpoch",
    "newGuid",
    "coalesce",
    "objectKeys",
    "shallowMerge",
    "tryGet",
    "padLeft",
    "listKeys",
    "description",
    "minValue",
    "maxValue",
    "minLength",
    "maxLength",
    "allowed",
    "secure",
    "metadata",
    "sealed",
    "discriminator",
    "export",
    "batchSize",
    "sys",
    "az",
];

const DECLARATIONS: &[&str] = &[
    "parameter_declaration",
    "variable_declaration",
    "resource_declaration",
    "module_declaration",
    "output_declaration",
    "type_declaration",
    "user_defined_function",
    "metadata_declaration",
];

fn is_within(node: Node, kinds: &[&str]) -> bool {
    let mut current = node.parent();
    while let Some(n) = current {
        if kinds.contains(&n.kind()) {
            return true;
        }
        current = n.parent();
    }
    false
}

/// Names a file binds: top-level declarations, loop variables and lambda parameters.
fn bound_names(file: &BicepFile) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for node in file.nodes() {
        match node.kind() {
            kind if DECLARATIONS.contains(&kind) => names.extend(file.declared_name(node)),
            "loop_variable" | "loop_enumerator" => {
                names.insert(file.text(node).to_string());
            }
            "for_statement" => {
                if let Some(init) = node.child_by_field_name("initializer") {
                    names.insert(file.text(init).to_string());
                }
            }
            "lambda_expression" => {
                if let Some(params) = node.named_child(0) {
                    let mut stack = vec![params];
                    while let Some(n) = stack.pop() {
                        if n.kind() == "identifier" {
                            names.insert(file.text(n).to_string());
                        }
                        let mut cursor = n.walk();
                        stack.extend(n.named_children(&mut cursor));
                    }
                }
            }
            _ => {}
        }
    }
    names
}

/// Identifiers used as values (not declaration names, object keys or type names).
fn references<'t>(file: &'t BicepFile) -> Vec<Node<'t>> {
    file.nodes()
        .into_iter()
        .filter(|n| n.kind() == "identifier")
        .filter(|n| {
            let Some(parent) = n.parent() else {
                return false;
            };
            let is_declared_name = DECLARATIONS.contains(&parent.kind())
                && file.declared_name(parent).as_deref() == Some(file.text(*n));
            let is_key = parent.kind() == "object_property"
                && parent.named_child(0).map(|k| k.id()) == Some(n.id());
            let is_initializer = parent.kind() == "for_statement";
            let is_type = is_within(
                *n,
                &[
                    "type",
                    "primitive_type",
                    "array_type",
                    "union_type",
                    "nullable_type",
                    "parameterized_type",
                ],
            );
            let is_lambda_parameter = parent.kind() == "lambda_expression"
                || is_within(*n, &["lambda_expression"])
                    && parent.kind() == "parenthesized_expression";
            !(is_declared_name || is_key || is_initializer || is_type || is_lambda_parameter)
        })
        .collect()
}

fn undefined_symbols(file: &BicepFile) -> Vec<String> {
    let bound = bound_names(file);
    references(file)
        .into_iter()
        .filter_map(|n| {
            let name = file.text(n);
            let known = bound.contains(name) || BUILT_INS.contains(&name);
            (!known).then(|| format!("{}: `{name}` is not declared", file.location(n)))
        })
        .collect()
}

#[test]
fn every_referenced_symbol_is_declared_or_built_in() {
    let problems: Vec<String> = bicep_files()
        .iter()
        .flat_map(|p| undefined_symbols(&BicepFile::load(p)))
        .collect();
    assert!(
        problems.is_empty(),
        "undefined symbols:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_symbol_check_catches_a_typo() {
    let dir = std::env::temp_dir().join(format!("infra-symbols-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    let path = dir.join("typo.bicep");
    std::fs::write(
        &path,
        "param location string\nvar names = [for n in range(0, 2): 'x${n}']\noutput where string = locaton\noutput list array = names\n",
    )
    .expect("temp file is writable");
    let problems = undefined_symbols(&BicepFile::load(&path));
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(
        problems.len(),
        1,
        "exactly the typo is reported: {problems:?}"
    );
    assert!(problems[0].contains("`locaton`"), "{problems:?}");
}

/// Parameters of a module file: name -> has a default value.
fn module_parameters(file: &BicepFile) -> BTreeMap<String, bool> {
    file.declarations("parameter_declaration")
        .into_iter()
        .filter_map(|d| {
            let name = file.declared_name(d)?;
            let mut cursor = d.walk();
            let has_default = d.children(&mut cursor).any(|c| c.kind() == "=");
            Some((name, has_default))
        })
        .collect()
}

fn module_outputs(file: &BicepFile) -> BTreeSet<String> {
    file.declarations("output_declaration")
        .into_iter()
        .filter_map(|d| file.declared_name(d))
        .collect()
}

fn module_path(file: &BicepFile, declaration: Node) -> Option<PathBuf> {
    let mut cursor = declaration.walk();
    let path = declaration
        .named_children(&mut cursor)
        .find(|c| c.kind() == "string")
        .and_then(|s| file.string_value(s))?;
    Some(file.path.parent().unwrap_or(Path::new(".")).join(path))
}

#[test]
fn modules_exist_and_get_exactly_their_parameters() {
    let mut problems = Vec::new();
    for path in bicep_files() {
        let file = BicepFile::load(&path);
        for declaration in file.declarations("module_declaration") {
            let Some(target) = module_path(&file, declaration) else {
                problems.push(format!(
                    "{}: module path is not a plain string",
                    file.location(declaration)
                ));
                continue;
            };
            if !target.is_file() {
                problems.push(format!(
                    "{}: module file {} does not exist",
                    file.location(declaration),
                    shown(&target)
                ));
                continue;
            }
            let module = BicepFile::load(&target);
            let declared = module_parameters(&module);
            let passed: BTreeSet<String> = file
                .body(declaration)
                .and_then(|body| file.property(body, "params"))
                .map(|params| file.keys(params).into_iter().collect())
                .unwrap_or_default();
            for name in &passed {
                if !declared.contains_key(name) {
                    problems.push(format!(
                        "{}: passes unknown parameter `{name}` to {}",
                        file.location(declaration),
                        shown(&target)
                    ));
                }
            }
            for (name, has_default) in &declared {
                if !has_default && !passed.contains(name) {
                    problems.push(format!(
                        "{}: does not pass required parameter `{name}` of {}",
                        file.location(declaration),
                        shown(&target)
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "module call problems:\n{}",
        problems.join("\n")
    );
}

#[test]
fn module_outputs_read_by_callers_exist() {
    let mut problems = Vec::new();
    for path in bicep_files() {
        let file = BicepFile::load(&path);
        let mut outputs_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for declaration in file.declarations("module_declaration") {
            if let (Some(name), Some(target)) = (
                file.declared_name(declaration),
                module_path(&file, declaration),
            ) && target.is_file()
            {
                outputs_of.insert(name, module_outputs(&BicepFile::load(&target)));
            }
        }
        for node in file
            .nodes()
            .into_iter()
            .filter(|n| n.kind() == "member_expression")
        {
            // Shape: <module>.outputs.<name>
            let (Some(inner), Some(property)) = (
                node.child_by_field_name("object").map(unwrap_expression),
                node.child_by_field_name("property"),
            ) else {
                continue;
            };
            if inner.kind() != "member_expression" {
                continue;
            }
            let (Some(module), Some(outputs)) = (
                inner.child_by_field_name("object").map(unwrap_expression),
                inner.child_by_field_name("property"),
            ) else {
                continue;
            };
            if file.text(outputs) != "outputs" {
                continue;
            }
            if let Some(declared) = outputs_of.get(file.text(module))
                && !declared.contains(file.text(property))
            {
                problems.push(format!(
                    "{}: module `{}` has no output `{}`",
                    file.location(node),
                    file.text(module),
                    file.text(property)
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "missing module outputs:\n{}",
        problems.join("\n")
    );
}

#[test]
fn loaded_files_exist_and_are_valid_json() {
    let mut problems = Vec::new();
    for path in bicep_files() {
        let file = BicepFile::load(&path);
        for call in file
            .nodes()
            .into_iter()
            .filter(|n| n.kind() == "call_expression")
        {
            let Some(function) = call.child_by_field_name("function") else {
                continue;
            };
            if file.text(function) != "loadJsonContent" {
                continue;
            }
            let argument = call
                .child_by_field_name("arguments")
                .and_then(|a| a.named_child(0))
                .map(unwrap_expression)
                .and_then(|a| file.string_value(a));
            let Some(relative) = argument else {
                problems.push(format!(
                    "{}: loadJsonContent needs a literal path",
                    file.location(call)
                ));
                continue;
            };
            let target = path.parent().unwrap_or(Path::new(".")).join(&relative);
            match std::fs::read_to_string(&target) {
                Ok(text) => {
                    if let Err(e) = serde_json::from_str::<serde_json::Value>(&text) {
                        problems.push(format!(
                            "{}: {relative} is not valid JSON: {e}",
                            file.location(call)
                        ));
                    }
                }
                Err(e) => problems.push(format!(
                    "{}: cannot read {relative}: {e}",
                    file.location(call)
                )),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn resources_use_current_generally_available_api_versions() {
    let mut problems = Vec::new();
    for path in bicep_files() {
        let file = BicepFile::load(&path);
        for declaration in file.declarations("resource_declaration") {
            let Some(type_and_version) = file.resource_type(declaration) else {
                problems.push(format!(
                    "{}: resource type is not a plain string",
                    file.location(declaration)
                ));
                continue;
            };
            let Some((_, version)) = type_and_version.split_once('@') else {
                problems.push(format!(
                    "{}: `{type_and_version}` has no API version",
                    file.location(declaration)
                ));
                continue;
            };
            let year: u32 = version.get(..4).and_then(|y| y.parse().ok()).unwrap_or(0);
            if version.contains("preview") || year < 2020 {
                problems.push(format!(
                    "{}: `{type_and_version}` is a preview or outdated API version",
                    file.location(declaration)
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn parameter_file_matches_the_main_template() {
    let main = BicepFile::load_relative("infra/main.bicep");
    let declared = module_parameters(&main);
    let file: serde_json::Value =
        serde_json::from_str(&support::infra::read("infra/main.parameters.json"))
            .expect("infra/main.parameters.json is valid JSON");
    let given: BTreeSet<String> = file["parameters"]
        .as_object()
        .expect("infra/main.parameters.json has a `parameters` object")
        .keys()
        .cloned()
        .collect();
    for name in &given {
        assert!(
            declared.contains_key(name),
            "infra/main.parameters.json sets `{name}`, which main.bicep does not declare"
        );
    }
    for (name, has_default) in &declared {
        assert!(
            *has_default || given.contains(name),
            "main.bicep parameter `{name}` has no default and no value in main.parameters.json"
        );
    }
}
