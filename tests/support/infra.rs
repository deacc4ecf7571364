//! Helpers for the `infra_*` tests: locating repository files and reading Bicep
//! templates through the tree-sitter Bicep grammar.

use std::fs;
use std::path::{Path, PathBuf};

use tree_sitter::{Node, Parser, Tree};

/// The repository root (where `Cargo.toml` lives).
pub use super::repo_root;

/// Reads a file relative to the repository root, failing the test with the path on error.
pub fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A path as shown in failure messages: relative to the repository root.
pub fn shown(path: &Path) -> String {
    path.strip_prefix(repo_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Every `*.bicep` file under `infra/`, sorted.
pub fn bicep_files() -> Vec<PathBuf> {
    let mut found = Vec::new();
    collect(&repo_root().join("infra"), "bicep", &mut found);
    found.sort();
    found
}

fn collect(dir: &Path, extension: &str, found: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, extension, found);
        } else if path.extension().is_some_and(|e| e == extension) {
            found.push(path);
        }
    }
}

/// A parsed Bicep file: its path, source text and syntax tree.
pub struct BicepFile {
    pub path: PathBuf,
    pub source: String,
    pub tree: Tree,
}

impl BicepFile {
    pub fn load(path: &Path) -> Self {
        let source = fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let mut parser = Parser::new();
        parser
            .set_language(&tree_sitter_bicep::LANGUAGE.into())
            .expect("the Bicep grammar is compatible with the tree-sitter runtime");
        let tree = parser
            .parse(&source, None)
            .unwrap_or_else(|| panic!("tree-sitter returned no tree for {}", path.display()));
        Self {
            path: path.to_path_buf(),
            source,
            tree,
        }
    }

    /// Loads a file relative to the repository root.
    pub fn load_relative(relative: &str) -> Self {
        Self::load(&repo_root().join(relative))
    }

    pub fn text(&self, node: Node) -> &str {
        &self.source[node.byte_range()]
    }

    /// `path:line:column` of a node, 1-based, path relative to the repository root.
    pub fn location(&self, node: Node) -> String {
        let at = node.start_position();
        format!("{}:{}:{}", shown(&self.path), at.row + 1, at.column + 1)
    }

    /// Every node of the tree in document order.
    pub fn nodes(&self) -> Vec<Node<'_>> {
        let mut out = Vec::new();
        let mut cursor = self.tree.walk();
        loop {
            out.push(cursor.node());
            if cursor.goto_first_child() {
                continue;
            }
            loop {
                if cursor.goto_next_sibling() {
                    break;
                }
                if !cursor.goto_parent() {
                    return out;
                }
            }
        }
    }

    /// Top-level declarations of one kind (`parameter_declaration`, `resource_declaration`, ...).
    pub fn declarations(&self, kind: &str) -> Vec<Node<'_>> {
        self.nodes()
            .into_iter()
            .filter(|n| n.kind() == kind)
            .collect()
    }

    /// The symbol a declaration introduces (its first identifier child).
    pub fn declared_name(&self, declaration: Node) -> Option<String> {
        let mut cursor = declaration.walk();
        declaration
            .named_children(&mut cursor)
            .find(|c| c.kind() == "identifier")
            .map(|c| self.text(c).to_string())
    }

    /// The string contents of a string literal node without quotes, or None when it interpolates.
    pub fn string_value(&self, node: Node) -> Option<String> {
        if node.kind() != "string" {
            return None;
        }
        let mut cursor = node.walk();
        if node
            .named_children(&mut cursor)
            .any(|c| c.kind() == "interpolation")
        {
            return None;
        }
        let raw = self.text(node);
        Some(raw.trim_matches('\'').to_string())
    }

    /// The value node of property `key` in an `object` node.
    pub fn property<'t>(&self, object: Node<'t>, key: &str) -> Option<Node<'t>> {
        let mut cursor = object.walk();
        let found = object
            .named_children(&mut cursor)
            .filter(|c| c.kind() == "object_property")
            .find_map(|property| {
                let name = property.named_child(0)?;
                let key_text = self.text(name).trim_matches('\'');
                (key_text == key).then(|| property.named_child(property.named_child_count() - 1))?
            });
        found.map(unwrap_expression)
    }

    /// The keys of an `object` node, in order.
    pub fn keys(&self, object: Node) -> Vec<String> {
        let mut cursor = object.walk();
        object
            .named_children(&mut cursor)
            .filter(|c| c.kind() == "object_property")
            .filter_map(|p| p.named_child(0))
            .map(|k| self.text(k).trim_matches('\'').to_string())
            .collect()
    }

    /// The body object of a resource or module declaration (looking through `if` and `for`).
    pub fn body<'t>(&self, declaration: Node<'t>) -> Option<Node<'t>> {
        let last = declaration.named_child(declaration.named_child_count().checked_sub(1)?)?;
        body_object(last)
    }

    /// The quoted type string of a resource declaration, e.g. `Microsoft.Web/sites@2024-04-01`.
    pub fn resource_type(&self, declaration: Node) -> Option<String> {
        let mut cursor = declaration.walk();
        declaration
            .named_children(&mut cursor)
            .find(|c| c.kind() == "string")
            .and_then(|s| self.string_value(s))
    }
}

/// Descends through `expression` / `primary_expression` wrappers to the meaningful node.
pub fn unwrap_expression(mut node: Node) -> Node {
    while matches!(node.kind(), "expression" | "primary_expression")
        && node.named_child_count() == 1
    {
        match node.named_child(0) {
            Some(child) => node = child,
            None => break,
        }
    }
    node
}

fn body_object(node: Node) -> Option<Node> {
    let node = unwrap_expression(node);
    match node.kind() {
        "object" => Some(node),
        "if_statement" | "for_statement" => {
            let last = node.named_child(node.named_child_count().checked_sub(1)?)?;
            body_object(last)
        }
        _ => None,
    }
}

/// Every `functions/*/function.json` as (function name, parsed JSON); empty until folders exist.
pub fn function_manifests() -> Vec<(String, serde_json::Value)> {
    let dir = repo_root().join("functions");
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut manifests: Vec<(String, serde_json::Value)> = entries
        .flatten()
        .filter(|e| e.path().join("function.json").is_file())
        .map(|e| {
            let path = e.path().join("function.json");
            let text = fs::read_to_string(&path)
                .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|err| panic!("{} is not valid JSON: {err}", path.display()));
            (e.file_name().to_string_lossy().into_owned(), json)
        })
        .collect();
    manifests.sort_by(|a, b| a.0.cmp(&b.0));
    manifests
}
