//! Config problems, and the LiteLLM settings accepted without being acted on.

use std::collections::BTreeMap;
use std::fmt;

/// A config problem: where, which key, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or `<demo>`).
    pub file: String,
    /// The key, as a path (`model_list[0].litellm_params.api_key`); empty for the file.
    pub key: String,
    /// The 1-based line of the key, when it could be found.
    pub line: Option<usize>,
    /// The problem.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.problem)
        } else {
            write!(f, ": `{}`: {}", self.key, self.problem)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem of a config, in file order (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub(crate) fn one(file: &str, problem: String) -> Self {
        Self(vec![ConfigError {
            file: file.to_string(),
            key: String::new(),
            line: None,
            problem,
        }])
    }

    /// The errors.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }

    /// The error at `key`, if any.
    pub fn at(&self, key: &str) -> Option<&ConfigError> {
        self.0.iter().find(|e| e.key == key)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// LiteLLM settings accepted and not acted on: section → key → how many times.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignored(pub BTreeMap<String, BTreeMap<String, usize>>);

impl Ignored {
    pub(crate) fn add(&mut self, section: &str, key: &str) {
        *self
            .0
            .entry(section.to_string())
            .or_default()
            .entry(key.to_string())
            .or_default() += 1;
    }

    /// How many distinct keys, over every section.
    pub fn len(&self) -> usize {
        self.0.values().map(BTreeMap::len).sum()
    }

    /// Whether nothing was ignored.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
