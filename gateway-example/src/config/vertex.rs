//! Vertex AI's `vertex_credentials`, as LiteLLM takes it: a service-account key
//! file's path, or its JSON inline (a string, or a YAML mapping), `os.environ/`
//! allowed. Read and checked when the config is, so a bad key is a config error.

use provider_adapters::google::ServiceAccount;
use serde_norway::Value;

use super::reader::{describe, Ctx};

/// Largest key file read (they are about 2.4 KB).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// The service account `value` names, or an error at `path`.
pub(crate) fn credentials(ctx: &mut Ctx<'_>, path: &str, value: &Value) -> Option<ServiceAccount> {
    let json = match value {
        Value::Mapping(_) => match serde_json::to_string(value) {
            Ok(json) => json,
            Err(e) => {
                ctx.error(path, format!("is not a service-account key: {e}"));
                return None;
            }
        },
        Value::String(_) => {
            let text = ctx.string(path, Some(value))?;
            if text.trim_start().starts_with('{') {
                text
            } else {
                match read_key_file(&text) {
                    Ok(json) => json,
                    Err(problem) => {
                        ctx.error(path, problem);
                        return None;
                    }
                }
            }
        }
        other => {
            ctx.error(
                path,
                format!(
                    "must be a key file's path or its JSON, got {}",
                    describe(other)
                ),
            );
            return None;
        }
    };
    match ServiceAccount::from_json(&json) {
        Ok(account) => Some(account),
        Err(problem) => {
            ctx.error(path, problem);
            None
        }
    }
}

fn read_key_file(path: &str) -> Result<String, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read the key file `{path}`: {e}"))?;
    if meta.len() > MAX_KEY_FILE {
        return Err(format!(
            "the key file `{path}` is {} bytes; a service-account key is a few KB (the bound is {MAX_KEY_FILE})",
            meta.len()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read the key file `{path}`: {e}"))
}
