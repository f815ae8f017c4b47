//! `validation/json-schema`: the request body against a JSON Schema
//! (drafts 4 to 2020-12, by its `$schema`; 2020-12 when it names none),
//! with KrakenD's answer texts.
//!
//! KrakenD (krakend-jsonschema) validates with gojsonschema and answers 400
//! with one line per error, `- FIELD: DESCRIPTION`, FIELD being `(root)` or
//! the dotted path of the offending value; the descriptions below are
//! gojsonschema's English ones, so clients that parse them keep working.
//! Remote `$ref`s are never fetched (the crate is built without its HTTP
//! resolver): a schema that needs one fails to compile at start-up.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

/// KrakenD's text for a request without a body.
pub const EMPTY_BODY: &str = "could not validate an empty body";

/// A compiled schema for one endpoint.
pub struct BodySchema {
    validator: Validator,
}

impl std::fmt::Debug for BodySchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodySchema")
    }
}

impl BodySchema {
    /// Compiles `schema`; `Err` explains why it is not a usable schema.
    pub fn compile(schema: &Value) -> Result<BodySchema, String> {
        if !matches!(schema, Value::Object(_) | Value::Bool(_)) {
            return Err(format!(
                "a JSON Schema is an object (or true/false), not {}; e.g. {{\"type\": \"object\", \"required\": [\"id\"]}}",
                type_name(schema)
            ));
        }
        jsonschema::validator_for(schema)
            .map(|validator| BodySchema { validator })
            .map_err(|error| format!("not a valid JSON Schema: {error}"))
    }

    /// Checks a request body. `Err` is KrakenD's answer text (the status is
    /// always 400).
    pub fn check(&self, body: &[u8]) -> Result<(), String> {
        if body.is_empty() {
            return Err(EMPTY_BODY.to_owned());
        }
        let instance: Value = serde_json::from_slice(body)
            .map_err(|error| format!("could not parse the body as JSON: {error}"))?;
        let mut lines = Vec::new();
        for error in self.validator.iter_errors(&instance) {
            lines.push(format!(
                "- {}: {}",
                field(&error),
                describe(&error, &instance)
            ));
        }
        if lines.is_empty() {
            Ok(())
        } else {
            Err(lines.join("\n"))
        }
    }
}

/// gojsonschema's field: `(root)`, or the path from it joined with dots.
fn field(error: &ValidationError<'_>) -> String {
    let mut out = String::new();
    for segment in error.instance_path().segments() {
        if !out.is_empty() {
            out.push('.');
        }
        match segment {
            LocationSegment::Property(name) => out.push_str(&name),
            LocationSegment::Index(index) => out.push_str(&index.to_string()),
        }
    }
    if out.is_empty() {
        "(root)".to_owned()
    } else {
        out
    }
}

/// gojsonschema's description of one error.
fn describe(error: &ValidationError<'_>, _root: &Value) -> String {
    let instance = error.instance();
    match error.kind() {
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(set) => format!(
                    "[{}]",
                    set.iter()
                        .map(|t| t.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            };
            format!(
                "Invalid type. Expected: {expected}, given: {}",
                type_name(instance)
            )
        }
        ValidationErrorKind::Required { property } => {
            format!("{} is required", property.as_str().unwrap_or_default())
        }
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => unexpected
            .iter()
            .map(|p| format!("Additional property {p} is not allowed"))
            .collect::<Vec<_>>()
            .join(", "),
        ValidationErrorKind::AdditionalItems { .. }
        | ValidationErrorKind::UnevaluatedItems { .. } => {
            "No additional items allowed on array".to_owned()
        }
        ValidationErrorKind::AnyOf { .. } => "Must validate at least one schema (anyOf)".to_owned(),
        ValidationErrorKind::OneOfMultipleValid { .. }
        | ValidationErrorKind::OneOfNotValid { .. } => {
            "Must validate one and only one schema (oneOf)".to_owned()
        }
        ValidationErrorKind::Not { .. } => "Must not validate the schema (not)".to_owned(),
        ValidationErrorKind::FalseSchema => "False always fails validation".to_owned(),
        ValidationErrorKind::Constant { expected_value } => {
            format!("{} does not match: {expected_value}", field(error))
        }
        ValidationErrorKind::Enum { options } => {
            let allowed = match &**options {
                Value::Array(values) => values
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            format!("{} must be one of the following: {allowed}", field(error))
        }
        ValidationErrorKind::Contains => "At least one of the items must match".to_owned(),
        ValidationErrorKind::MinItems { limit } => {
            format!("Array must have at least {limit} items")
        }
        ValidationErrorKind::MaxItems { limit } => format!("Array must have at most {limit} items"),
        ValidationErrorKind::UniqueItems => "array items must be unique".to_owned(),
        ValidationErrorKind::MinProperties { limit } => {
            format!("Must have at least {limit} properties")
        }
        ValidationErrorKind::MaxProperties { limit } => {
            format!("Must have at most {limit} properties")
        }
        ValidationErrorKind::MinLength { limit } => {
            format!("String length must be greater than or equal to {limit}")
        }
        ValidationErrorKind::MaxLength { limit } => {
            format!("String length must be less than or equal to {limit}")
        }
        ValidationErrorKind::Pattern { pattern } => format!("Does not match pattern '{pattern}'"),
        ValidationErrorKind::Format { format } => format!("Does not match format '{format}'"),
        ValidationErrorKind::MultipleOf { multiple_of } => {
            format!("Must be a multiple of {multiple_of}")
        }
        ValidationErrorKind::Minimum { limit } => {
            format!("Must be greater than or equal to {limit}")
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => format!("Must be greater than {limit}"),
        ValidationErrorKind::Maximum { limit } => format!("Must be less than or equal to {limit}"),
        ValidationErrorKind::ExclusiveMaximum { limit } => format!("Must be less than {limit}"),
        ValidationErrorKind::PropertyNames { .. } => {
            format!("Property name of {instance} does not match")
        }
        // Keywords gojsonschema does not know (content*, ...): the crate's text.
        _ => error.to_string(),
    }
}

/// gojsonschema's name for a value's type (a whole number is an `integer`).
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(schema: Value, body: &str) -> Result<(), String> {
        BodySchema::compile(&schema).unwrap().check(body.as_bytes())
    }

    #[test]
    fn texts_follow_gojsonschema() {
        let object = json!({
            "type": "object",
            "required": ["id", "name"],
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "name": {"type": "string", "minLength": 2, "pattern": "^[a-z]+$"},
                "tags": {"type": "array", "maxItems": 1, "items": {"enum": ["a", "b"]}}
            },
            "additionalProperties": false
        });
        let rows: &[(&Value, &str, Result<(), &str>)] = &[
            (
                &json!({"type": "number"}),
                r#"{"foo": 42}"#,
                Err("- (root): Invalid type. Expected: number, given: object"),
            ),
            (&json!({"type": "number"}), "42.5", Ok(())),
            (
                &json!({"type": "string"}),
                "42",
                Err("- (root): Invalid type. Expected: string, given: integer"),
            ),
            (
                &json!({"type": ["string", "null"]}),
                "1.5",
                Err("- (root): Invalid type. Expected: [null,string], given: number"),
            ),
            (
                &object,
                r#"{"id": 0, "name": "x"}"#,
                Err(
                    "- id: Must be greater than or equal to 1\n- name: String length must be greater than or equal to 2",
                ),
            ),
            (&object, r#"{"id": 3}"#, Err("- (root): name is required")),
            (
                &object,
                r#"{"id": 3, "name": "ab", "x": 1}"#,
                Err("- (root): Additional property x is not allowed"),
            ),
            (
                &object,
                r#"{"id": 3, "name": "AB"}"#,
                Err("- name: Does not match pattern '^[a-z]+$'"),
            ),
            (
                &object,
                r#"{"id": 3, "name": "ab", "tags": ["c"]}"#,
                Err(r#"- tags.0: tags.0 must be one of the following: "a", "b""#),
            ),
            (
                &object,
                r#"{"id": 3, "name": "ab", "tags": ["a", "b"]}"#,
                Err("- tags: Array must have at most 1 items"),
            ),
            (&object, r#"{"id": 3, "name": "ab", "tags": ["a"]}"#, Ok(())),
        ];
        for (schema, body, want) in rows {
            let got = check((*schema).clone(), body);
            assert_eq!(got, want.map_err(str::to_owned), "{schema} {body}");
        }
    }

    #[test]
    fn empty_and_malformed_bodies_are_refused() {
        let schema = json!({"type": "object"});
        assert_eq!(check(schema.clone(), ""), Err(EMPTY_BODY.to_owned()));
        let malformed = check(schema, "{not json").unwrap_err();
        assert!(
            malformed.starts_with("could not parse the body as JSON"),
            "{malformed}"
        );
    }

    #[test]
    fn drafts_are_told_by_their_schema_keyword() {
        // exclusiveMinimum is a boolean in draft 4, a number from draft 6 on.
        let draft4 = json!({"$schema": "http://json-schema.org/draft-04/schema#",
                            "type": "number", "minimum": 5, "exclusiveMinimum": true});
        assert_eq!(
            check(draft4, "5"),
            Err("- (root): Must be greater than 5".to_owned())
        );
        let draft7 = json!({"$schema": "http://json-schema.org/draft-07/schema#",
                            "type": "number", "exclusiveMinimum": 5});
        assert_eq!(
            check(draft7.clone(), "5"),
            Err("- (root): Must be greater than 5".to_owned())
        );
        assert_eq!(check(draft7, "6"), Ok(()));
        let draft2020 = json!({"$schema": "https://json-schema.org/draft/2020-12/schema",
                               "prefixItems": [{"type": "integer"}], "items": false});
        assert_eq!(check(draft2020.clone(), "[1]"), Ok(()));
        assert!(check(draft2020, "[1, 2]").is_err());
    }

    #[test]
    fn bad_schemas_do_not_compile() {
        assert!(BodySchema::compile(&json!({"type": "numbr"})).is_err());
        assert!(BodySchema::compile(&json!({"minimum": "five"})).is_err());
        assert!(BodySchema::compile(&json!([1])).is_err());
        let remote = json!({"$ref": "https://example.com/schemas/user.json"});
        assert!(
            BodySchema::compile(&remote).is_err(),
            "a remote $ref is never fetched"
        );
    }
}
