//! The file's top-level shape. Sections stay YAML values here: they are read key by
//! key afterwards, so that every bad key is reported, not only the first.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_norway::Value;

/// The whole file, by section.
#[derive(Deserialize, Default)]
pub(crate) struct RawFile {
    pub(crate) server: Option<Value>,
    pub(crate) pool: Option<Value>,
    pub(crate) limits: Option<Value>,
    pub(crate) cache: Option<Value>,
    pub(crate) callbacks: Option<Value>,
    pub(crate) model_list: Option<Value>,
    pub(crate) litellm_settings: Option<Value>,
    pub(crate) router_settings: Option<Value>,
    pub(crate) general_settings: Option<Value>,
    pub(crate) environment_variables: Option<Value>,
    /// Every other section (`guardrails`, `mcp_servers`, `search_tools`, …): listed
    /// as ignored.
    #[serde(flatten)]
    pub(crate) other: BTreeMap<String, Value>,
}
