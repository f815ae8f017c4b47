//! `validation/cel` and `validation/json-schema`: their shape checked and
//! kept as written, with their JSON paths; `prepare::Prepared` compiles
//! them once (a bad expression or schema stops `check` and start-up with
//! that path) and every worker shares the compiled programs.

use serde_json::Value;

use super::error::{BuildResult, Problem};
use super::model::{CelSettings, JsonSchemaSettings};

pub const CEL: &str = "validation/cel";
pub const JSON_SCHEMA: &str = "validation/json-schema";

/// An array of `{"check_expr": "..."}`; `at` is the namespace's path.
pub fn cel(value: &Value, at: &str) -> BuildResult<CelSettings> {
    let Value::Array(items) = value else {
        return Err(Problem::new(
            at,
            "must be an array of checks, e.g. [{\"check_expr\": \"req_method == 'GET'\"}]",
        ));
    };
    let mut expressions = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let at = format!("{at}[{index}]");
        let Value::Object(fields) = item else {
            return Err(Problem::new(
                at,
                "must be an object with \"check_expr\", e.g. {\"check_expr\": \"req_method == 'GET'\"}",
            ));
        };
        for key in fields.keys() {
            if key != "check_expr" && !key.starts_with('@') {
                // krakend-cel reads `mod_expr` too but never runs it.
                return Err(Problem::new(
                    format!("{at}.{key}"),
                    "not a CEL check setting; each check has only \"check_expr\"",
                ));
            }
        }
        let source = fields
            .get("check_expr")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                Problem::new(
                    format!("{at}.check_expr"),
                    "missing or not a string; write the CEL expression to check, e.g. \"int(req_params.Id) > 0\"",
                )
            })?;
        expressions.push(source.to_owned());
    }
    Ok(CelSettings {
        at: at.to_owned(),
        expressions,
        response_refused: None,
    })
}

/// The schema itself is the namespace's value.
pub fn json_schema(value: &Value, at: &str) -> JsonSchemaSettings {
    JsonSchemaSettings {
        at: at.to_owned(),
        schema: value.clone(),
    }
}

/// Response-side CEL needs a decoded response; a no-op one is streamed
/// through untouched.
pub fn refuse_response_cel_on_no_op(at: &str) -> Problem {
    Problem::new(
        format!("{at}.extra_config.{CEL}"),
        "checks a response (resp_*), but a \"no-op\" encoding streams the response through unread; cuttle does not check no-op responses, so remove the check or the no-op encoding",
    )
}
