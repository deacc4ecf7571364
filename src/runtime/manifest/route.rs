//! HTTP route templates as the Functions host reads them: ASP.NET Core route template syntax,
//! parsed once and used to build the axum path, to fill in the host's route values, to match
//! a request (case-insensitively, with constraints) and to detect collisions.
//!
//! Syntax: `/`-separated segments, each a literal or one parameter `{name}`, `{name:int}`,
//! `{name:int:min(1)}`, `{name?}`, `{name=default}`, `{*rest}` (catch-all, last segment only).
//! Constraints are ASP.NET Core's default constraint map (dotnet/aspnetcore,
//! `src/Http/Routing/src/RouteOptions.cs`); an unknown one fails, as
//! `DefaultInlineConstraintResolver` does. Segments that mix literal text and parameters
//! (`{a}.{b}`) are valid ASP.NET Core but not supported here, so they are refused.

use std::collections::BTreeMap;
use std::fmt;

/// Characters escaped in one path segment (everything but RFC 3986 unreserved characters).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// As [`SEGMENT`], but keeping `/` for catch-all values.
const CATCH_ALL: &percent_encoding::AsciiSet = &SEGMENT.remove(b'/');

/// Why a route template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("the route separator `/` cannot appear twice in a row")]
    EmptySegment,
    #[error("segment `{0}` mixes literal text and a parameter, which this platform does not serve")]
    ComplexSegment(String),
    #[error("literal `{0}` cannot contain `?`, `{{` or `}}`")]
    BadLiteral(String),
    #[error("parameter `{0}` has no name")]
    NoName(String),
    #[error("parameter name `{0}` appears more than once")]
    DuplicateName(String),
    #[error(
        "the constraint reference `{constraint}` of `{parameter}` could not be resolved (known: {known})"
    )]
    UnknownConstraint {
        parameter: String,
        constraint: String,
        known: &'static str,
    },
    #[error("constraint `{constraint}` of `{parameter}`: {reason}")]
    BadConstraint {
        parameter: String,
        constraint: String,
        reason: String,
    },
    #[error("parameter `{0}` cannot be both optional and have a default value")]
    OptionalWithDefault(String),
    #[error("catch-all parameter `{0}` must be the last segment and cannot be optional")]
    CatchAllPosition(String),
    #[error("parameter `{0}` is optional but a required segment follows it")]
    OptionalNotLast(String),
    /// Azure/azure-functions-host, `src/WebJobs.Script/Host/ScriptHost.cs`
    /// (`ValidateHttpFunction`): a route whose lower-cased text starts with `admin` or
    /// `runtime` is refused at indexing.
    #[error(
        "`{0}` starts with `admin` or `runtime`: the Functions host refuses it (\"The specified route conflicts with one or more built in routes.\")"
    )]
    Reserved(String),
}

/// The constraints of ASP.NET Core's default constraint map.
const KNOWN_CONSTRAINTS: &str = "int, bool, datetime, decimal, double, float, guid, long, \
    minlength(n), maxlength(n), length(n) or length(min,max), min(n), max(n), range(min,max), \
    alpha, regex(expression), required, file, nonfile";

/// A `regex(...)` constraint, compared by its pattern.
#[derive(Debug, Clone)]
pub struct Pattern(regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for Pattern {}

/// One inline route constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    Int,
    Long,
    Bool,
    DateTime,
    Decimal,
    Guid,
    Alpha,
    MinLength(usize),
    MaxLength(usize),
    Length(usize, usize),
    Min(i64),
    Max(i64),
    Range(i64, i64),
    Regex(Box<Pattern>),
    Required,
    File,
    NonFile,
}

impl Constraint {
    fn parse(parameter: &str, text: &str) -> Result<Self, RouteError> {
        let (name, args) = match text.split_once('(') {
            Some((name, rest)) => match rest.strip_suffix(')') {
                Some(args) => (name, Some(args)),
                None => return Err(bad(parameter, text, "missing `)`")),
            },
            None => (text, None),
        };
        let numbers = || -> Result<Vec<i64>, RouteError> {
            args.unwrap_or_default()
                .split(',')
                .map(|a| a.trim().parse::<i64>())
                .collect::<Result<_, _>>()
                .map_err(|_| bad(parameter, text, "arguments must be whole numbers"))
        };
        let size = |n: i64| {
            usize::try_from(n).map_err(|_| bad(parameter, text, "lengths cannot be negative"))
        };
        let no_args = |constraint: Self| match args {
            None => Ok(constraint),
            Some(_) => Err(bad(parameter, text, "takes no arguments")),
        };
        let lower = name.to_ascii_lowercase();
        if args.is_none()
            && matches!(
                lower.as_str(),
                "minlength" | "maxlength" | "length" | "min" | "max" | "range" | "regex"
            )
        {
            return Err(bad(parameter, text, "needs arguments"));
        }
        match lower.as_str() {
            "int" => no_args(Self::Int),
            "long" => no_args(Self::Long),
            "bool" => no_args(Self::Bool),
            "datetime" => no_args(Self::DateTime),
            "decimal" | "double" | "float" => no_args(Self::Decimal),
            "guid" => no_args(Self::Guid),
            "alpha" => no_args(Self::Alpha),
            "required" => no_args(Self::Required),
            "file" => no_args(Self::File),
            "nonfile" => no_args(Self::NonFile),
            "minlength" | "maxlength" | "min" | "max" => match numbers()?.as_slice() {
                [n] => Ok(match lower.as_str() {
                    "minlength" => Self::MinLength(size(*n)?),
                    "maxlength" => Self::MaxLength(size(*n)?),
                    "min" => Self::Min(*n),
                    _ => Self::Max(*n),
                }),
                _ => Err(bad(parameter, text, "takes one argument")),
            },
            "length" => match numbers()?.as_slice() {
                [n] => Ok(Self::Length(size(*n)?, size(*n)?)),
                [a, b] if a <= b => Ok(Self::Length(size(*a)?, size(*b)?)),
                _ => Err(bad(
                    parameter,
                    text,
                    "takes (n) or (min,max) with min <= max",
                )),
            },
            "range" => match numbers()?.as_slice() {
                [a, b] if a <= b => Ok(Self::Range(*a, *b)),
                _ => Err(bad(parameter, text, "takes (min,max) with min <= max")),
            },
            "regex" => {
                // Braces are doubled in a template; ASP.NET Core matches with IgnoreCase.
                let pattern = args
                    .unwrap_or_default()
                    .replace("{{", "{")
                    .replace("}}", "}");
                regex::RegexBuilder::new(&pattern)
                    .case_insensitive(true)
                    .build()
                    .map(|regex| Self::Regex(Box::new(Pattern(regex))))
                    .map_err(|e| bad(parameter, text, &format!("not a supported expression: {e}")))
            }
            _ => Err(RouteError::UnknownConstraint {
                parameter: parameter.to_owned(),
                constraint: text.to_owned(),
                known: KNOWN_CONSTRAINTS,
            }),
        }
    }

    /// Whether the route value `value` passes (the `*RouteConstraint` classes of ASP.NET Core).
    pub fn accepts(&self, value: &str) -> bool {
        let long = || value.parse::<i64>().ok();
        let chars = value.chars().count();
        match self {
            Self::Int => value.parse::<i32>().is_ok(),
            Self::Long => long().is_some(),
            Self::Bool => value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false"),
            Self::DateTime => {
                chrono::DateTime::parse_from_rfc3339(value).is_ok()
                    || chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok()
                    || chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S").is_ok()
            }
            Self::Decimal => value.parse::<f64>().is_ok_and(f64::is_finite),
            Self::Guid => uuid::Uuid::parse_str(value).is_ok(),
            Self::Alpha => value.chars().all(|c| c.is_ascii_alphabetic()),
            Self::MinLength(n) => chars >= *n,
            Self::MaxLength(n) => chars <= *n,
            Self::Length(a, b) => (*a..=*b).contains(&chars),
            Self::Min(n) => long().is_some_and(|v| v >= *n),
            Self::Max(n) => long().is_some_and(|v| v <= *n),
            Self::Range(a, b) => long().is_some_and(|v| (*a..=*b).contains(&v)),
            Self::Regex(pattern) => pattern.0.is_match(value),
            Self::Required => !value.is_empty(),
            Self::File => is_file(value),
            Self::NonFile => !is_file(value),
        }
    }
}

/// `FileNameRouteConstraint`: the last path segment has a `.` that is not its last character.
fn is_file(value: &str) -> bool {
    let last = value.rsplit('/').next().unwrap_or(value);
    last.find('.').is_some_and(|dot| dot + 1 < last.len())
}

fn bad(parameter: &str, constraint: &str, reason: &str) -> RouteError {
    RouteError::BadConstraint {
        parameter: parameter.to_owned(),
        constraint: constraint.to_owned(),
        reason: reason.to_owned(),
    }
}

/// One parameter segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    pub constraints: Vec<Constraint>,
    pub optional: bool,
    pub default: Option<String>,
    pub catch_all: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Parameter(Parameter),
}

/// A segment reduced to what decides whether two templates answer the same paths.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Shape {
    Literal(String),
    Parameter,
    CatchAll,
}

/// A parsed route template (without the host's route prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTemplate {
    text: String,
    segments: Vec<Segment>,
}

impl fmt::Display for RouteTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl RouteTemplate {
    /// Parses a route template; leading and trailing `/` are ignored, as the host trims them.
    pub fn parse(text: &str) -> Result<Self, RouteError> {
        let trimmed = text.trim_matches('/');
        let mut segments = Vec::new();
        if !trimmed.is_empty() {
            for part in trimmed.split('/') {
                segments.push(parse_segment(part)?);
            }
        }
        let template = Self {
            text: trimmed.to_owned(),
            segments,
        };
        template.validate()?;
        Ok(template)
    }

    /// The empty template: the prefix itself.
    pub fn root() -> Self {
        Self {
            text: String::new(),
            segments: Vec::new(),
        }
    }

    /// As [`RouteTemplate::parse`], plus the host's reserved prefixes: the rule for a
    /// function's own route (its `route`, or its name when `route` is absent).
    pub fn parse_function_route(text: &str) -> Result<Self, RouteError> {
        let lower = text.trim_matches('/').to_ascii_lowercase();
        if lower.starts_with("admin") || lower.starts_with("runtime") {
            return Err(RouteError::Reserved(text.trim_matches('/').to_owned()));
        }
        Self::parse(text)
    }

    fn validate(&self) -> Result<(), RouteError> {
        let mut names: Vec<String> = Vec::new();
        let mut optional_seen: Option<&str> = None;
        let last = self.segments.len().saturating_sub(1);
        for (index, segment) in self.segments.iter().enumerate() {
            let Segment::Parameter(parameter) = segment else {
                if let Some(name) = optional_seen {
                    return Err(RouteError::OptionalNotLast(name.to_owned()));
                }
                continue;
            };
            let lower = parameter.name.to_ascii_lowercase();
            if names.contains(&lower) {
                return Err(RouteError::DuplicateName(parameter.name.clone()));
            }
            names.push(lower);
            if parameter.catch_all && (index != last || parameter.optional) {
                return Err(RouteError::CatchAllPosition(parameter.name.clone()));
            }
            if parameter.optional || parameter.default.is_some() {
                optional_seen = Some(&parameter.name);
            } else if !parameter.catch_all
                && let Some(name) = optional_seen
            {
                return Err(RouteError::OptionalNotLast(name.to_owned()));
            }
        }
        Ok(())
    }

    /// The template as written (slashes trimmed).
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The axum path under `prefix`: constraints, defaults and optional markers dropped,
    /// `{*rest}` kept as a catch-all.
    pub fn axum_path(&self, prefix: &str) -> String {
        let mut path = prefix_path(prefix);
        for segment in &self.segments {
            path.push('/');
            match segment {
                Segment::Literal(text) => path.push_str(text),
                Segment::Parameter(p) if p.catch_all => {
                    path.push_str("{*");
                    path.push_str(&p.name);
                    path.push('}');
                }
                Segment::Parameter(p) => {
                    path.push('{');
                    path.push_str(&p.name);
                    path.push('}');
                }
            }
        }
        if path.is_empty() {
            "/".to_owned()
        } else {
            path
        }
    }

    /// The request path under `prefix` with route values filled in (names matched
    /// case-insensitively, values percent-encoded). `None` when a required value is missing.
    pub fn fill(&self, prefix: &str, values: &BTreeMap<String, String>) -> Option<String> {
        let lookup = |name: &str| {
            values
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.as_str())
        };
        let mut path = prefix_path(prefix);
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => {
                    path.push('/');
                    path.push_str(text);
                }
                Segment::Parameter(p) => match lookup(&p.name).or(p.default.as_deref()) {
                    Some(value) => {
                        let set = if p.catch_all { CATCH_ALL } else { SEGMENT };
                        path.push('/');
                        path.extend(percent_encoding::utf8_percent_encode(value, set));
                    }
                    None if p.optional || p.catch_all => {}
                    None => return None,
                },
            }
        }
        Some(if path.is_empty() {
            "/".to_owned()
        } else {
            path
        })
    }

    /// The route values when the request path `path` is `prefix` followed by this template:
    /// literals compared case-insensitively, every constraint checked, defaults applied.
    pub fn matches(&self, prefix: &str, path: &str) -> Option<Vec<(String, String)>> {
        let parts: Vec<String> = path
            .split('/')
            .filter(|part| !part.is_empty())
            .map(|part| {
                percent_encoding::percent_decode_str(part)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let prefix_parts: Vec<&str> = prefix.split('/').filter(|p| !p.is_empty()).collect();
        if parts.len() < prefix_parts.len()
            || !prefix_parts
                .iter()
                .zip(&parts)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
        {
            return None;
        }
        let parts = &parts[prefix_parts.len()..];
        let mut values = Vec::new();
        let mut index = 0;
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => {
                    if !parts
                        .get(index)
                        .is_some_and(|p| p.eq_ignore_ascii_case(text))
                    {
                        return None;
                    }
                    index += 1;
                }
                Segment::Parameter(p) => {
                    let value = if p.catch_all {
                        let rest = parts[index.min(parts.len())..].join("/");
                        index = parts.len();
                        (!rest.is_empty()).then_some(rest)
                    } else {
                        let value = parts.get(index).cloned();
                        if value.is_some() {
                            index += 1;
                        }
                        value
                    };
                    match value.or_else(|| p.default.clone()) {
                        Some(value) => {
                            if !p.constraints.iter().all(|c| c.accepts(&value)) {
                                return None;
                            }
                            values.push((p.name.clone(), value));
                        }
                        None if p.optional || p.catch_all => {}
                        None => return None,
                    }
                }
            }
        }
        (index == parts.len()).then_some(values)
    }

    /// The template's shape: two templates with the same shape answer the same paths.
    pub fn shape(&self) -> Vec<Shape> {
        self.segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(text) => Shape::Literal(text.to_ascii_lowercase()),
                Segment::Parameter(p) if p.catch_all => Shape::CatchAll,
                Segment::Parameter(_) => Shape::Parameter,
            })
            .collect()
    }

    /// ASP.NET Core's inbound precedence (`RoutePrecedence.ComputeInbound`): one digit per
    /// segment, literal 1, constrained parameter 3, parameter 4, catch-all 5; lower is tried
    /// first, so `users/me` wins over `users/{id}`.
    pub fn precedence(&self) -> Vec<u8> {
        self.segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(_) => 1,
                Segment::Parameter(p) if p.catch_all => 5,
                Segment::Parameter(p) if !p.constraints.is_empty() => 3,
                Segment::Parameter(_) => 4,
            })
            .collect()
    }
}

fn prefix_path(prefix: &str) -> String {
    prefix
        .split('/')
        .filter(|part| !part.is_empty())
        .map(|part| format!("/{part}"))
        .collect()
}

fn parse_segment(part: &str) -> Result<Segment, RouteError> {
    if part.is_empty() {
        return Err(RouteError::EmptySegment);
    }
    let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) else {
        if part.contains('{') || part.contains('}') {
            return Err(RouteError::ComplexSegment(part.to_owned()));
        }
        if part.contains('?') {
            return Err(RouteError::BadLiteral(part.to_owned()));
        }
        return Ok(Segment::Literal(part.to_owned()));
    };
    if inner.contains(['{', '}']) && !inner.contains("regex(") {
        return Err(RouteError::ComplexSegment(part.to_owned()));
    }
    let catch_all = inner.starts_with('*');
    let inner = inner.trim_start_matches('*');
    let (inner, default) = match split_default(inner) {
        Some((left, default)) => (left, Some(default.to_owned())),
        None => (inner, None),
    };
    let optional = inner.ends_with('?');
    let inner = inner.strip_suffix('?').unwrap_or(inner);
    let (name, constraints) = match inner.split_once(':') {
        Some((name, rest)) => (name, split_constraints(rest)),
        None => (inner, Vec::new()),
    };
    if name.is_empty() || name.contains(['?', '*', '=', '/']) {
        return Err(RouteError::NoName(part.to_owned()));
    }
    if optional && default.is_some() {
        return Err(RouteError::OptionalWithDefault(name.to_owned()));
    }
    let constraints = constraints
        .iter()
        .map(|text| Constraint::parse(name, text))
        .collect::<Result<_, _>>()?;
    Ok(Segment::Parameter(Parameter {
        name: name.to_owned(),
        constraints,
        optional,
        default,
        catch_all,
    }))
}

/// Splits `name:c1:c2(args)=default` at the `=` outside any parentheses.
fn split_default(inner: &str) -> Option<(&str, &str)> {
    let mut depth = 0usize;
    for (index, c) in inner.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '=' if depth == 0 => return Some((&inner[..index], &inner[index + 1..])),
            _ => {}
        }
    }
    None
}

/// Splits `c1:c2(a:b)` at the `:` outside any parentheses.
fn split_constraints(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (index, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(text: &str) -> RouteTemplate {
        RouteTemplate::parse(text).unwrap()
    }

    #[test]
    fn matches_params_constraints_optional_defaults_and_catch_all() {
        let t = template("users/{id:int}/items/{name?}");
        assert_eq!(
            t.matches("api", "/api/users/7/items/x"),
            Some(vec![("id".into(), "7".into()), ("name".into(), "x".into())])
        );
        assert_eq!(
            t.matches("api", "/API/Users/7/items"),
            Some(vec![("id".into(), "7".into())])
        );
        assert_eq!(t.matches("api", "/api/users/seven/items"), None);
        assert_eq!(
            t.matches("api", "/api/users/99999999999/items"),
            None,
            "int is 32-bit"
        );
        assert_eq!(t.matches("api", "/api/users/7/items/x/y"), None);
        let c = template("files/{*rest}");
        assert_eq!(
            c.matches("api", "/api/files/a/b"),
            Some(vec![("rest".into(), "a/b".into())])
        );
        let d = template("round/{n:range(1,3)=2}");
        assert_eq!(
            d.matches("", "/round"),
            Some(vec![("n".into(), "2".into())])
        );
        assert_eq!(d.matches("", "/round/4"), None);
        let r = template("codes/{code:regex(^[a-z]{{2}}\\d$)}");
        assert!(r.matches("", "/codes/AB1").is_some());
        assert!(r.matches("", "/codes/ABC").is_none());
    }

    #[test]
    fn builds_axum_paths_and_fills_values() {
        assert_eq!(
            template("users/{id:int}").axum_path("api"),
            "/api/users/{id}"
        );
        assert_eq!(
            template("files/{*rest}").axum_path("api"),
            "/api/files/{*rest}"
        );
        assert_eq!(template("round").axum_path(""), "/round");
        assert_eq!(template("/x/{y?}/").axum_path("/api/"), "/api/x/{y}");
        let values = [
            ("Id".to_owned(), "a b/c".to_owned()),
            ("rest".to_owned(), "x/y".to_owned()),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            template("users/{id:alpha}/files/{*rest}")
                .fill("api", &values)
                .as_deref(),
            Some("/api/users/a%20b%2Fc/files/x/y")
        );
        assert_eq!(template("users/{missing}").fill("api", &values), None);
        assert_eq!(
            template("users/{missing?}").fill("api", &values).as_deref(),
            Some("/api/users")
        );
    }

    #[test]
    fn refuses_what_asp_net_core_and_the_host_refuse() {
        let cases = [
            ("a//b", "twice in a row"),
            ("{id:integer}", "could not be resolved"),
            ("{id:minlength}", "needs arguments"),
            ("{id:range(5,1)}", "min <= max"),
            ("{id:int()}", "takes no arguments"),
            ("{id}/{ID}", "more than once"),
            ("{*rest}/x", "catch-all"),
            ("{id?=3}", "optional and have a default"),
            ("{a?}/b", "required segment follows"),
            ("{a}.{b}", "mixes literal text"),
            ("x?y", "cannot contain"),
            ("{}", "no name"),
        ];
        for (text, expected) in cases {
            let error = RouteTemplate::parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
        for reserved in [
            "admin/rebuild/{model}",
            "Administration/x",
            "/runtime/webhooks/x",
            "AdminPanel",
        ] {
            assert!(matches!(
                RouteTemplate::parse_function_route(reserved),
                Err(RouteError::Reserved(_))
            ));
        }
        assert!(RouteTemplate::parse_function_route("manage/admin").is_ok());
    }

    #[test]
    fn shapes_and_precedence() {
        assert_eq!(
            template("users/{id}").shape(),
            template("Users/{userId:int}").shape()
        );
        assert_ne!(template("users/{id}").shape(), template("users/me").shape());
        assert!(template("users/me").precedence() < template("users/{id:int}").precedence());
        assert!(template("users/{id:int}").precedence() < template("users/{id}").precedence());
        assert!(template("users/{id}").precedence() < template("users/{*rest}").precedence());
    }
}
