//! Route patterns of `staticwebapp.config.json` (`/path`, `/path*`, `/path/*`,
//! `/images/*.{png,jpg}`, `*`), matched case-insensitively against request paths.

use globset::{Glob, GlobBuilder, GlobMatcher};

/// A compiled route pattern.
#[derive(Debug, Clone)]
pub struct RoutePattern {
    glob: GlobMatcher,
    /// For `/x/*`: the bare `/x` matches too.
    bare_prefix: Option<String>,
}

impl RoutePattern {
    /// Compiles a pattern; the error says what is wrong with it.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        if pattern.is_empty() {
            return Err("must not be empty".to_owned());
        }
        if !pattern.starts_with('/') && !pattern.starts_with('*') {
            return Err(format!("{pattern:?} must start with '/' or '*'"));
        }
        let glob: Glob = GlobBuilder::new(pattern)
            .case_insensitive(true)
            .literal_separator(false)
            .build()
            .map_err(|e| format!("{pattern:?} is not a valid pattern: {}", e.kind()))?;
        let bare_prefix = pattern
            .strip_suffix("/*")
            .filter(|p| !p.is_empty())
            .map(str::to_ascii_lowercase);
        Ok(Self {
            glob: glob.compile_matcher(),
            bare_prefix,
        })
    }

    pub fn matches(&self, path: &str) -> bool {
        self.glob.is_match(path)
            || self
                .bare_prefix
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(path))
    }
}
