//! The line of a key path (`model_list[2].litellm_params.api_key`) in the YAML text,
//! for error messages. The YAML parser keeps no positions in its values, so this
//! walks the text's indentation: block mappings and sequences, and flow mappings
//! (`{a: 1}`) on one line. A path it cannot follow gives `None`, never a wrong guess
//! past the deepest node it found (it answers that node's line instead).

/// One step of a key path.
#[derive(Debug, PartialEq, Eq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, rest) = part.split_once('[').unwrap_or((part, ""));
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        for index in rest.split('[') {
            if let Ok(i) = index.trim_end_matches(']').parse() {
                out.push(Step::Index(i));
            }
        }
    }
    out
}

/// A line without its comment-free content: indentation and text.
struct Line<'a> {
    indent: usize,
    text: &'a str,
}

fn lines(text: &str) -> Vec<Option<Line<'_>>> {
    text.lines()
        .map(|raw| {
            let trimmed = raw.trim_start();
            (!trimmed.is_empty() && !trimmed.starts_with('#')).then(|| Line {
                indent: raw.len() - trimmed.len(),
                text: trimmed.trim_end(),
            })
        })
        .collect()
}

/// `text` starts with the key `name` followed by `:`.
fn starts_with_key(text: &str, name: &str) -> bool {
    let unquoted = text
        .strip_prefix(name)
        .or_else(|| {
            text.strip_prefix('"')
                .and_then(|t| t.strip_prefix(name))
                .and_then(|t| t.strip_prefix('"'))
        })
        .or_else(|| {
            text.strip_prefix('\'')
                .and_then(|t| t.strip_prefix(name))
                .and_then(|t| t.strip_prefix('\''))
        });
    unquoted.is_some_and(|rest| rest.starts_with(':'))
}

/// Whether a flow mapping on this line names `name` (`{a: 1, name: 2}`).
fn flow_has_key(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].trim_end();
        (before.ends_with('{') || before.ends_with(',')) && text[i + name.len()..].starts_with(':')
    })
}

/// The 1-based line of `path` in `text`, or of the deepest part of it found.
pub(crate) fn locate(text: &str, path: &str) -> Option<usize> {
    let lines = lines(text);
    // The current node: its line, its indentation, and whether it is a sequence item
    // (whose children are right of its dash) or a key (whose children are right of
    // it, or dashes at its own column: `model_list:\n- model_name: a`).
    let mut node: Option<(usize, usize, bool)> = None;
    let mut found = None;
    for step in steps(path) {
        let from = match node {
            None => 0,
            Some((line, _, _)) => {
                let own = lines[line].as_ref().map_or("", |l| l.text);
                let value = own.split_once(':').map_or("", |(_, v)| v);
                // A flow mapping or sequence on the node's own line holds the rest.
                if value.contains('{') || value.contains('[') {
                    if let Step::Key(name) = step {
                        if !flow_has_key(value, name) {
                            return found;
                        }
                    }
                    continue;
                }
                line + 1
            }
        };
        let is_child = |line: &Line<'_>| match node {
            None => true,
            Some((_, indent, true)) => line.indent > indent,
            Some((_, indent, false)) => {
                line.indent > indent || (line.indent == indent && line.text.starts_with('-'))
            }
        };
        let mut hit = None;
        // An item's first key sits on its dash line (`- model_name: x`).
        if let (Some((line, indent, true)), Step::Key(name)) = (node, &step) {
            if let Some(rest) = lines[line].as_ref().and_then(|l| l.text.strip_prefix("- ")) {
                if starts_with_key(rest.trim_start(), name) {
                    hit = Some((line, indent + 2, false));
                }
            }
        }
        let mut child_column = None;
        let mut index = 0;
        for (i, line) in lines.iter().enumerate().skip(from) {
            if hit.is_some() {
                break;
            }
            let Some(line) = line else { continue };
            if !is_child(line) {
                break;
            }
            if line.indent != *child_column.get_or_insert(line.indent) {
                continue;
            }
            match step {
                Step::Key(name) if starts_with_key(line.text, name) => {
                    hit = Some((i, line.indent, false));
                }
                Step::Index(want) if line.text.starts_with('-') => {
                    if index == want {
                        hit = Some((i, line.indent, true));
                    }
                    index += 1;
                }
                _ => {}
            }
        }
        match hit {
            Some(at) => {
                found = Some(at.0 + 1);
                node = Some(at);
            }
            None => return found,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
server:
  listen: 1
# a comment
model_list:
  - model_name: a
    litellm_params:
      model: openai/a
  - model_name: b
    litellm_params: {model: x, api_key: y}
    model_info:
      id: z
pool: {max_connections: 0}
";

    #[test]
    fn block_and_flow_keys_are_found() {
        assert_eq!(locate(TEXT, "server.listen"), Some(2));
        assert_eq!(locate(TEXT, "model_list"), Some(4));
        assert_eq!(locate(TEXT, "model_list[0].model_name"), Some(5));
        assert_eq!(locate(TEXT, "model_list[0].litellm_params.model"), Some(7));
        assert_eq!(locate(TEXT, "model_list[1].model_name"), Some(8));
        assert_eq!(
            locate(TEXT, "model_list[1].litellm_params.api_key"),
            Some(9)
        );
        assert_eq!(locate(TEXT, "model_list[1].model_info.id"), Some(11));
        assert_eq!(locate(TEXT, "pool.max_connections"), Some(12));
    }

    #[test]
    fn a_missing_key_gives_the_deepest_line_found() {
        assert_eq!(
            locate(TEXT, "model_list[0].litellm_params.api_key"),
            Some(6)
        );
        assert_eq!(locate(TEXT, "model_list[5]"), Some(4));
        assert_eq!(locate(TEXT, "nothing"), None);
    }
}
