//! `backend/graphql` (lura `transport/http/client/graphql/graphql.go`,
//! `GetOptions` and `New`; the middleware is `proxy/graphql.go`): a backend
//! called over HTTP with a GraphQL document built from the configuration.
//!
//! Read as lura reads it, with lura's silent fallbacks refused: where lura
//! logs a warning and proxies the client's request to the GraphQL server
//! unchanged (an unreadable `query_path`, a `type` other than query or
//! mutation, a value of the wrong type), cuttle stops with the JSON path.

use serde_json::{Map, Value};

use super::error::{BuildResult, Problem};

pub const NAMESPACE: &str = "backend/graphql";

/// `type`: lura lower-cases it (`GetOptions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Variables from the endpoint's parameters (`BodyFromParams`).
    Query,
    /// Variables from the client's JSON body over the configured ones
    /// (`BodyFromBody`).
    Mutation,
}

/// `method`: lura upper-cases it; anything but GET is POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphqlMethod {
    Post,
    Get,
}

#[derive(Debug, Clone)]
pub struct GraphqlSettings {
    pub operation: Operation,
    pub method: GraphqlMethod,
    /// `query`, or the text of the file `query_path` names.
    pub query: String,
    /// `operationName` (omitted from the document when empty, as lura's
    /// `omitempty`).
    pub operation_name: String,
    /// `variables` as written (sorted by name, as Go marshals a map).
    pub variables: Map<String, Value>,
    /// For a query: the variables whose value is a `{placeholder}`, with
    /// the parameter name lura looks up (first letter upper-cased, as
    /// lura's router keys its parameters).
    pub placeholders: Vec<(String, String)>,
}

/// Reads the namespace at `at` (its JSON path). `warnings` gets what lura
/// accepts and cuttle serves as lura does but may surprise.
pub fn settings(
    value: &Value,
    at: &str,
    warnings: &mut Vec<Problem>,
) -> BuildResult<GraphqlSettings> {
    let Value::Object(fields) = value else {
        return Err(Problem::new(
            at,
            "must be an object, e.g. {\"type\": \"query\", \"query\": \"{ user(id: $id) { name } }\", \"variables\": {\"id\": \"{id}\"}}",
        ));
    };
    let text = |key: &str| -> BuildResult<Option<&str>> {
        match fields.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Problem::new(
                format!("{at}.{key}"),
                "must be a string (KrakenD would ignore the whole backend/graphql block and proxy the client's request as it is)",
            )),
        }
    };
    let operation = match text("type")?.map(str::to_ascii_lowercase).as_deref() {
        Some("query") => Operation::Query,
        Some("mutation") => Operation::Mutation,
        Some(other) => {
            return Err(Problem::new(
                format!("{at}.type"),
                format!(
                    "\"{other}\" is not a GraphQL operation type: write \"query\" or \"mutation\" (KrakenD would ignore the block and proxy the client's request as it is)"
                ),
            ));
        }
        None => {
            return Err(Problem::new(
                format!("{at}.type"),
                "missing: write \"type\": \"query\" or \"type\": \"mutation\"",
            ));
        }
    };
    let method = match text("method")?.map(str::to_ascii_uppercase).as_deref() {
        Some("GET") => GraphqlMethod::Get,
        None | Some("POST") => GraphqlMethod::Post,
        Some(other) => {
            warnings.push(Problem::new(
                format!("{at}.method"),
                format!("\"{other}\" is neither GET nor POST: sent as POST, as KrakenD does"),
            ));
            GraphqlMethod::Post
        }
    };
    let query = match (text("query")?, text("query_path")?) {
        (Some(_), Some(_)) => {
            return Err(Problem::new(
                format!("{at}.query_path"),
                "\"query\" and \"query_path\" are both set (KrakenD's schema allows one; KrakenD would use the file): remove one of them",
            ));
        }
        (_, Some(path)) if !path.is_empty() => std::fs::read_to_string(path).map_err(|e| {
            Problem::new(
                format!("{at}.query_path"),
                format!(
                    "cannot read the GraphQL query \"{path}\" (relative to the working directory): {e} (KrakenD would ignore the block and proxy the client's request as it is); fix the path or write the query inline in \"query\""
                ),
            )
        })?,
        (Some(query), _) if !query.trim().is_empty() => query.to_owned(),
        _ => {
            return Err(Problem::new(
                at,
                "no GraphQL document: write it in \"query\", or name a file holding it in \"query_path\"",
            ));
        }
    };
    let operation_name = text("operationName")?.unwrap_or_default().to_owned();
    let variables = match fields.get("variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(variables)) => variables.clone(),
        Some(_) => {
            return Err(Problem::new(
                format!("{at}.variables"),
                "must be an object of variable names and values, e.g. {\"id\": \"{id}\", \"limit\": 10}",
            ));
        }
    };
    let mut placeholders = Vec::new();
    for (name, value) in &variables {
        let Some(text) = value.as_str() else { continue };
        let Some(inner) = placeholder(text) else {
            continue;
        };
        if inner.is_empty() {
            // lura slices past the end of "{}" and KrakenD stops.
            return Err(Problem::new(
                format!("{at}.variables.{name}"),
                "\"{}\" names no parameter: write e.g. \"{id}\" for the endpoint's {id}",
            ));
        }
        match operation {
            Operation::Query => placeholders.push((name.clone(), lura_param(inner))),
            Operation::Mutation => warnings.push(Problem::new(
                format!("{at}.variables.{name}"),
                format!(
                    "sent as the text \"{text}\": KrakenD fills placeholders in the variables of a \"query\" only; a mutation's variables come from the client's JSON body"
                ),
            )),
        }
    }
    Ok(GraphqlSettings {
        operation,
        method,
        query,
        operation_name,
        variables,
        placeholders,
    })
}

/// The text between the braces of a `{placeholder}` value (lura tests the
/// first and last byte).
fn placeholder(text: &str) -> Option<&str> {
    text.strip_prefix('{')?.strip_suffix('}')
}

/// lura's parameter key: the first letter upper-cased
/// (`router/gin/endpoint.go`; `graphql.New` title-cases the placeholder's
/// first letter the same way).
pub fn lura_param(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// Checks a query's placeholders against what the endpoint can fill
/// (`params`, its `{placeholders}`). lura fills `{JWT.claim}` and a
/// sequential endpoint's `{resp0_field}` too; cuttle does not hand those to
/// this kind yet, and sending "" instead of a claim would change who the
/// query is about: refused. Another unknown name is "" in KrakenD: warned.
pub fn check_placeholders(
    settings: &GraphqlSettings,
    params: &[&str],
    at: &str,
    warnings: &mut Vec<Problem>,
) -> BuildResult<()> {
    for (variable, param) in &settings.placeholders {
        if params.iter().any(|p| lura_param(p) == *param) {
            continue;
        }
        let at = format!("{at}.variables.{variable}");
        let lower = param.to_ascii_lowercase();
        let numbered = lower.strip_prefix("resp").is_some_and(|rest| {
            rest.starts_with(|c: char| c.is_ascii_digit()) && rest.contains('_')
        });
        if param.starts_with("JWT.") || numbered {
            return Err(Problem::new(
                at,
                format!(
                    "{{{param}}}: cuttle fills GraphQL variables from the endpoint's own {{placeholders}} only, not from JWT claims or earlier responses; use an HTTP backend for this call or a placeholder of the endpoint"
                ),
            ));
        }
        warnings.push(Problem::new(
            at,
            format!(
                "the endpoint has no {{{param}}} placeholder: the variable is sent as \"\" (as KrakenD does)"
            ),
        ));
    }
    Ok(())
}

/// The backend's kind when it has `backend/graphql`, from its namespaces
/// (`extra`, whose `graphql` is taken) and the endpoint's placeholders and
/// output encoding. `at` is the backend's JSON path.
pub(super) fn protocol(
    extra: &mut super::extra::BackendExtra,
    params: &[&str],
    output: super::OutputEncoding,
    at: &str,
    warnings: &mut Vec<Problem>,
) -> BuildResult<Option<super::ProtocolSettings>> {
    let Some((graphql_at, settings)) = extra.graphql.take() else {
        return Ok(None);
    };
    if output == super::OutputEncoding::NoOp {
        // krakend.io: "no-op skips this configuration" (lura's no-op
        // factory stacks no GraphQL middleware).
        warnings.push(Problem::new(
            graphql_at,
            "not applied: the endpoint's output_encoding is \"no-op\", which skips backend/graphql (as KrakenD documents); the client's request goes to the backend as it is",
        ));
        return Ok(None);
    }
    // In KrakenD the GraphQL request is built above krakend-ce's backend
    // factory, whose Lua, martian and cache layers then see it; cuttle
    // calls a backend kind below those layers' places (`fanout::send`).
    let below: [(&str, bool); 3] = [
        ("modifier/martian", extra.martian.is_some()),
        ("qos/http-cache", extra.http_cache.is_some()),
        ("modifier/lua-backend", extra.lua.is_some()),
    ];
    if let Some((namespace, _)) = below.iter().find(|(_, set)| *set) {
        return Err(Problem::new(
            format!("{at}.extra_config.{namespace}"),
            format!(
                "not supported by cuttle on a backend/graphql backend (KrakenD applies it to the GraphQL request): remove \"{namespace}\" from this backend"
            ),
        ));
    }
    check_placeholders(&settings, params, &graphql_at, warnings)?;
    Ok(Some(super::ProtocolSettings::Graphql(std::sync::Arc::new(
        settings,
    ))))
}
