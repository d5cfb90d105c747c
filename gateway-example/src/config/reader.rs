//! Reading values out of the parsed YAML with every error collected (not only the
//! first), each range-checked, each naming its file, key path and line.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_norway::{Mapping, Value};

use super::{locate::locate, ConfigError, Ignored};

/// Looks an environment variable up (the process environment, or a test's map).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Longest duration any `*_s` key or `timeout` accepts: one year. Longer values
/// overflow the clock's arithmetic (`Instant + 1e19 s` panics).
pub const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// Largest count (connections, queue lengths, capacities) any key accepts.
pub const MAX_COUNT: u64 = 1 << 24;

/// Most problems reported with their line; the rest are counted (finding a line
/// walks the text, and a 4 MiB file of mistakes would take minutes to report).
pub const MAX_REPORTED: usize = 100;

/// The state of one parse: where errors go, what was ignored.
pub(crate) struct Ctx<'a> {
    pub(crate) file: &'a str,
    text: &'a str,
    env: Env<'a>,
    /// `environment_variables`: LiteLLM sets these before it reads the config.
    pub(crate) env_section: BTreeMap<String, String>,
    pub(crate) errors: Vec<ConfigError>,
    /// Problems past [`MAX_REPORTED`].
    pub(crate) unreported: usize,
    pub(crate) ignored: Ignored,
    pub(crate) warnings: Vec<String>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(file: &'a str, text: &'a str, env: Env<'a>) -> Self {
        Self {
            file,
            text,
            env,
            env_section: BTreeMap::new(),
            errors: Vec::new(),
            unreported: 0,
            ignored: Ignored::default(),
            warnings: Vec::new(),
        }
    }

    /// Records an error at `key`.
    pub(crate) fn error(&mut self, key: &str, problem: impl Into<String>) {
        if self.errors.len() >= MAX_REPORTED {
            self.unreported += 1;
            return;
        }
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            key: key.to_string(),
            line: locate(self.text, key),
            problem: problem.into(),
        });
    }

    /// An environment variable: the environment first, then `environment_variables`.
    pub(crate) fn var(&self, name: &str) -> Option<String> {
        (self.env)(name).or_else(|| self.env_section.get(name).cloned())
    }

    /// `os.environ/NAME` → the variable's value; anything else as is.
    pub(crate) fn resolve(&mut self, key: &str, value: &str) -> Option<String> {
        match value.strip_prefix("os.environ/") {
            Some(name) => {
                let found = self.var(name);
                if found.is_none() {
                    self.error(key, format!("environment variable `{name}` is not set"));
                }
                found
            }
            None => Some(value.to_string()),
        }
    }

    /// A string (numbers are taken as their text); `os.environ/` resolved.
    pub(crate) fn string(&mut self, key: &str, value: Option<&Value>) -> Option<String> {
        match value? {
            Value::Null => None,
            Value::String(s) => self.resolve(key, s),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => {
                self.error(key, "must be a string");
                None
            }
        }
    }

    /// A number, from a YAML number or a string (`os.environ/` resolved).
    fn number(&mut self, key: &str, value: &Value) -> Option<f64> {
        let n = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => self.resolve(key, s)?.trim().parse().ok(),
            _ => None,
        };
        if n.is_none() {
            self.error(key, format!("must be a number, got {}", describe(value)));
        }
        n
    }

    /// Seconds in (0, [`MAX_SECONDS`]]; `None` when absent or wrong (the error noted).
    pub(crate) fn seconds(&mut self, key: &str, value: Option<&Value>) -> Option<Duration> {
        let value = value.filter(|v| !v.is_null())?;
        let s = self.number(key, value)?;
        if s.is_finite() && s > 0.0 && s <= MAX_SECONDS {
            Some(Duration::from_secs_f64(s))
        } else {
            self.error(
                key,
                format!("must be a number of seconds above 0 and at most {MAX_SECONDS} (one year), got {s}"),
            );
            None
        }
    }

    /// A whole number in `min..=max`; `None` when absent or wrong (the error noted).
    pub(crate) fn whole(
        &mut self,
        key: &str,
        value: Option<&Value>,
        min: u64,
        max: u64,
    ) -> Option<u64> {
        let value = value.filter(|v| !v.is_null())?;
        let n = match value {
            Value::Number(n) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
                    .map(|f| f as u64)
            }),
            Value::String(s) => self.resolve(key, s)?.trim().parse().ok(),
            _ => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.error(
                    key,
                    format!(
                        "must be a whole number from {min} to {max}, got {}",
                        describe(value)
                    ),
                );
                None
            }
        }
    }

    /// A boolean.
    pub(crate) fn boolean(&mut self, key: &str, value: Option<&Value>) -> Option<bool> {
        match value? {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            Value::String(s) if s == "true" || s == "True" => Some(true),
            Value::String(s) if s == "false" || s == "False" => Some(false),
            other => {
                self.error(
                    key,
                    format!("must be true or false, got {}", describe(other)),
                );
                None
            }
        }
    }
}

/// A value, briefly, for an error message.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.len() <= 40 => format!("`{s}`"),
        Value::String(_) => "a long string".into(),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(_) => "a tagged value".into(),
    }
}

/// A section's keys as strings, in file order. A section that is not a mapping is an
/// error (and reads as empty).
pub(crate) fn entries(ctx: &mut Ctx<'_>, key: &str, value: Option<&Value>) -> Vec<(String, Value)> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Mapping(map)) => mapping_entries(ctx, key, map),
        Some(other) => {
            ctx.error(
                key,
                format!("must be a mapping of keys, got {}", describe(other)),
            );
            Vec::new()
        }
    }
}

fn mapping_entries(ctx: &mut Ctx<'_>, key: &str, map: &Mapping) -> Vec<(String, Value)> {
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        match k {
            Value::String(k) => out.push((k.clone(), v.clone())),
            other => ctx.error(
                key,
                format!("has a key that is not a string: {}", describe(other)),
            ),
        }
    }
    out
}

/// The known key closest to `key`, if it is a near miss (a likely typo).
pub(crate) fn near_miss<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .copied()
        .filter(|k| edit_distance(k, key) <= 2 && *k != key)
        .min_by_key(|k| edit_distance(k, key))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
