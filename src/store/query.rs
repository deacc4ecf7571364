//! The typed query API: AND-ed equality and range filters on JSON paths, one ORDER BY, TOP or
//! OFFSET…LIMIT, COUNT, and an optional projection. The embedded backend evaluates a [`Plan`]
//! in memory; the Cosmos DB backend translates it into parameterised Cosmos SQL.
//!
//! Supported, exactly:
//! - filters `path = v` (v a string, number, boolean or null) and `path < <= > >= v`
//!   (v a string or number); a comparison between different types is false, as in Cosmos DB;
//! - at most one `ORDER BY path ASC|DESC` (documents missing the path sort first ascending);
//! - `top(n)` alone, or `offset(n)` together with `limit(m)`;
//! - a projection of up to 16 paths, each returned under its last segment (a missing value is omitted);
//! - `count` of the documents matching the filters.
//!
//! Without ORDER BY the result order is unspecified (as in Cosmos DB); ties in ORDER BY too.
//! Anything else (OR, functions, joins, arrays or objects in filters) is not expressible; bad
//! paths and inconsistent paging are rejected with a 400 naming the field.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::error::{StoreError, StoreResult};
use super::model::JsonPath;

/// A comparison in a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn sql(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Asc,
    Desc,
}

/// A query as the caller builds it; paths are checked by [`Query::plan`].
#[derive(Debug, Clone, Default)]
pub struct Query {
    filters: Vec<(String, CmpOp, Value)>,
    order_by: Option<(String, SortOrder)>,
    top: Option<u64>,
    offset: Option<u64>,
    limit: Option<u64>,
    select: Option<Vec<String>>,
}

/// Most paths in a projection.
pub const MAX_PROJECTION: usize = 16;

impl Query {
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds `path op value` (AND-ed with the other filters).
    pub fn filter(mut self, path: &str, op: CmpOp, value: impl Into<Value>) -> Self {
        self.filters.push((path.to_owned(), op, value.into()));
        self
    }
    /// Shorthand for an equality filter.
    pub fn eq(self, path: &str, value: impl Into<Value>) -> Self {
        self.filter(path, CmpOp::Eq, value)
    }
    pub fn order_by(mut self, path: &str, order: SortOrder) -> Self {
        self.order_by = Some((path.to_owned(), order));
        self
    }
    pub fn top(mut self, n: u64) -> Self {
        self.top = Some(n);
        self
    }
    pub fn offset(mut self, n: u64) -> Self {
        self.offset = Some(n);
        self
    }
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }
    /// Returns only these paths, each under its last segment.
    pub fn select(mut self, paths: &[&str]) -> Self {
        self.select = Some(paths.iter().map(|p| (*p).to_owned()).collect());
        self
    }

    /// Validates the query.
    pub fn plan(&self) -> StoreResult<Plan> {
        let mut filters = Vec::with_capacity(self.filters.len());
        for (i, (path, op, value)) in self.filters.iter().enumerate() {
            let path = JsonPath::parse_named(path, &format!("filter[{i}].path"))?;
            match (op, value) {
                (_, Value::Array(_) | Value::Object(_)) => {
                    return Err(StoreError::BadRequest(format!(
                        "filter[{i}].value on `{path}` must be a string, number, boolean or null"
                    )));
                }
                (CmpOp::Eq, _) | (_, Value::String(_) | Value::Number(_)) => {}
                _ => {
                    return Err(StoreError::BadRequest(format!(
                        "filter[{i}].value on `{path}`: range comparisons need a string or number"
                    )));
                }
            }
            filters.push(Filter {
                path,
                op: *op,
                value: value.clone(),
            });
        }
        let order_by = match &self.order_by {
            Some((path, order)) => Some((JsonPath::parse_named(path, "order_by")?, *order)),
            None => None,
        };
        let page = match (self.top, self.offset, self.limit) {
            (None, None, None) => Page::All,
            (Some(n), None, None) => Page::Top(n),
            (None, Some(offset), Some(limit)) => Page::OffsetLimit(offset, limit),
            (None, None, Some(limit)) => Page::OffsetLimit(0, limit),
            (None, Some(_), None) => {
                return Err(StoreError::BadRequest("offset needs a limit".into()));
            }
            (Some(_), _, _) => {
                return Err(StoreError::BadRequest(
                    "top cannot be combined with offset/limit".into(),
                ));
            }
        };
        let select = match &self.select {
            None => None,
            Some(paths) if paths.is_empty() || paths.len() > MAX_PROJECTION => {
                return Err(StoreError::BadRequest(format!(
                    "select must name 1 to {MAX_PROJECTION} paths"
                )));
            }
            Some(paths) => {
                let mut parsed: Vec<JsonPath> = Vec::with_capacity(paths.len());
                for (i, p) in paths.iter().enumerate() {
                    let path = JsonPath::parse_named(p, &format!("select[{i}]"))?;
                    if parsed
                        .iter()
                        .any(|q| q.segments().last() == path.segments().last())
                    {
                        return Err(StoreError::BadRequest(format!(
                            "select[{i}] `{path}` repeats an output name"
                        )));
                    }
                    parsed.push(path);
                }
                Some(parsed)
            }
        };
        Ok(Plan {
            filters,
            order_by,
            page,
            select,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Filter {
    pub path: JsonPath,
    pub op: CmpOp,
    pub value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Page {
    All,
    Top(u64),
    OffsetLimit(u64, u64),
}

/// A validated query.
#[derive(Debug, Clone)]
pub struct Plan {
    pub filters: Vec<Filter>,
    pub order_by: Option<(JsonPath, SortOrder)>,
    pub page: Page,
    pub select: Option<Vec<JsonPath>>,
}

/// Cosmos SQL text with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Sql {
    pub text: String,
    pub params: Vec<(String, Value)>,
}

impl Plan {
    /// True when a document passes every filter.
    pub fn matches(&self, doc: &Value) -> bool {
        self.filters.iter().all(|f| match f.path.get(doc) {
            None => false,
            Some(actual) => compare_same_type(actual, &f.value).is_some_and(|ord| match f.op {
                CmpOp::Eq => ord == Ordering::Equal,
                CmpOp::Lt => ord == Ordering::Less,
                CmpOp::Le => ord != Ordering::Greater,
                CmpOp::Gt => ord == Ordering::Greater,
                CmpOp::Ge => ord != Ordering::Less,
            }),
        })
    }

    /// Sorts, pages and projects the matching documents.
    pub fn finish(&self, mut docs: Vec<Value>) -> Vec<Value> {
        if let Some((path, order)) = &self.order_by {
            docs.sort_by(|a, b| {
                let ord = sort_key_cmp(path.get(a), path.get(b));
                if *order == SortOrder::Desc {
                    ord.reverse()
                } else {
                    ord
                }
            });
        }
        let (skip, take) = match self.page {
            Page::All => (0, usize::MAX),
            Page::Top(n) => (0, saturating(n)),
            Page::OffsetLimit(o, l) => (saturating(o), saturating(l)),
        };
        docs.into_iter()
            .skip(skip)
            .take(take)
            .map(|doc| self.project(doc))
            .collect()
    }

    fn project(&self, doc: Value) -> Value {
        match &self.select {
            None => doc,
            Some(paths) => {
                let mut out = Map::new();
                for path in paths {
                    if let (Some(v), Some(name)) = (path.get(&doc), path.segments().last()) {
                        out.insert(name.clone(), v.clone());
                    }
                }
                Value::Object(out)
            }
        }
    }

    fn where_clause(&self, params: &mut Vec<(String, Value)>) -> String {
        let mut text = String::new();
        for (i, f) in self.filters.iter().enumerate() {
            text.push_str(if i == 0 { " WHERE " } else { " AND " });
            let name = format!("@p{i}");
            text.push_str(&format!("{} {} {name}", f.path.to_sql(), f.op.sql()));
            params.push((name, f.value.clone()));
        }
        text
    }

    /// The query as Cosmos SQL.
    pub fn to_sql(&self) -> Sql {
        let mut params = Vec::new();
        let mut text = String::from("SELECT ");
        if let Page::Top(n) = self.page {
            text.push_str(&format!("TOP {n} "));
        }
        match &self.select {
            None => text.push_str("* FROM c"),
            Some(paths) => {
                let fields: Vec<String> = paths
                    .iter()
                    .filter_map(|p| Some(format!("\"{}\": {}", p.segments().last()?, p.to_sql())))
                    .collect();
                text.push_str(&format!("VALUE {{{}}} FROM c", fields.join(", ")));
            }
        }
        text.push_str(&self.where_clause(&mut params));
        if let Some((path, order)) = &self.order_by {
            let dir = if *order == SortOrder::Asc {
                "ASC"
            } else {
                "DESC"
            };
            text.push_str(&format!(" ORDER BY {} {dir}", path.to_sql()));
        }
        if let Page::OffsetLimit(o, l) = self.page {
            text.push_str(&format!(" OFFSET {o} LIMIT {l}"));
        }
        Sql { text, params }
    }

    /// `SELECT VALUE COUNT(1)` over the filters; `rows` selects `VALUE 1` per match instead
    /// (for backends that cannot aggregate across partitions).
    pub fn to_count_sql(&self, rows: bool) -> Sql {
        let mut params = Vec::new();
        let head = if rows {
            "SELECT VALUE 1 FROM c"
        } else {
            "SELECT VALUE COUNT(1) FROM c"
        };
        let text = format!("{head}{}", self.where_clause(&mut params));
        Sql { text, params }
    }

    /// Count accepts filters only.
    pub fn check_countable(&self) -> StoreResult<()> {
        if self.order_by.is_some() || self.page != Page::All || self.select.is_some() {
            return Err(StoreError::BadRequest(
                "count accepts filters only (no order_by, top, offset, limit or select)".into(),
            ));
        }
        Ok(())
    }
}

fn saturating(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Comparison of two JSON scalars of the same type; `None` when the types differ.
fn compare_same_type(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Cosmos DB's ORDER BY order across types: undefined, null, booleans, numbers, strings.
fn sort_key_cmp(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    fn rank(v: Option<&Value>) -> u8 {
        match v {
            None => 0,
            Some(Value::Null) => 1,
            Some(Value::Bool(_)) => 2,
            Some(Value::Number(_)) => 3,
            Some(Value::String(_)) => 4,
            Some(Value::Array(_)) => 5,
            Some(Value::Object(_)) => 6,
        }
    }
    match (a, b) {
        (Some(x), Some(y)) => compare_same_type(x, y).unwrap_or_else(|| rank(a).cmp(&rank(b))),
        _ => rank(a).cmp(&rank(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sql_is_parameterised_and_quotes_paths() {
        let plan = Query::new()
            .eq("/chat/id", "c1")
            .filter("/value", CmpOp::Ge, 3)
            .order_by("/score", SortOrder::Desc)
            .offset(2)
            .limit(5)
            .plan()
            .unwrap();
        let sql = plan.to_sql();
        assert_eq!(
            sql.text,
            "SELECT * FROM c WHERE c.chat.id = @p0 AND c[\"value\"] >= @p1 ORDER BY c.score DESC OFFSET 2 LIMIT 5"
        );
        assert_eq!(
            sql.params,
            vec![("@p0".into(), json!("c1")), ("@p1".into(), json!(3))]
        );
    }

    #[test]
    fn rejects_bad_paths_and_values_naming_the_field() {
        let err = Query::new().eq("userId", 1).plan().unwrap_err();
        assert!(err.to_string().contains("filter[0].path"), "{err}");
        let err = Query::new().eq("/a\"] OR 1=1", 1).plan().unwrap_err();
        assert!(err.is_bad_request());
        let err = Query::new()
            .filter("/a", CmpOp::Lt, true)
            .plan()
            .unwrap_err();
        assert!(err.to_string().contains("range"), "{err}");
        let err = Query::new().eq("/a", json!([1])).plan().unwrap_err();
        assert!(err.to_string().contains("filter[0].value"), "{err}");
        assert!(Query::new().offset(1).plan().is_err());
        assert!(Query::new().top(1).limit(2).plan().is_err());
        assert!(Query::new().select(&["/a/x", "/b/x"]).plan().is_err());
    }

    #[test]
    fn mixed_types_never_match() {
        let plan = Query::new().filter("/n", CmpOp::Gt, 1).plan().unwrap();
        assert!(plan.matches(&json!({"n": 2})));
        assert!(!plan.matches(&json!({"n": "2"})));
        assert!(!plan.matches(&json!({})));
        let plan = Query::new().eq("/n", 1).plan().unwrap();
        assert!(plan.matches(&json!({"n": 1.0})));
    }
}
