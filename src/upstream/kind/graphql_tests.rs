use serde_json::json;

use super::*;

fn settings(query: &str, name: &str, variables: serde_json::Value) -> GraphqlSettings {
    GraphqlSettings {
        operation: GraphqlOperation::Query,
        method: GraphqlMethod::Post,
        query: query.to_owned(),
        operation_name: name.to_owned(),
        variables: variables.as_object().cloned().unwrap_or_default(),
        placeholders: Vec::new(),
    }
}

#[test]
fn the_document_is_what_go_marshals() {
    // lura's ExampleExtractor output, byte for byte.
    let s = settings(
        "{\n  find_follower(func: uid(\"0x3\")) {\n    name \n    }\n  }\n",
        "",
        json!({"foo": "foobar", "bar": "1234abc"}),
    );
    assert_eq!(
        String::from_utf8(document(&s, &s.variables)).unwrap(),
        r#"{"query":"{\n  find_follower(func: uid(\"0x3\")) {\n    name \n    }\n  }\n","variables":{"bar":"1234abc","foo":"foobar"}}"#
    );
}

#[test]
fn empty_fields_are_left_out_and_html_characters_escaped() {
    let s = settings("{ a }", "", json!({}));
    assert_eq!(document(&s, &s.variables), br#"{"query":"{ a }"}"#);
    let s = settings("{ a }", "Op", json!({"x": "<b>&\u{2028}\u{2029}\"\\\n"}));
    assert_eq!(
        String::from_utf8(document(&s, &s.variables)).unwrap(),
        r#"{"query":"{ a }","operationName":"Op","variables":{"x":"\u003cb\u003e\u0026\u2028\u2029\"\\\n"}}"#
    );
}

#[test]
fn nested_objects_are_sorted() {
    let s = settings(
        "q",
        "",
        json!({"b": {"z": 1, "a": [{"y": 1, "x": 2}]}, "a": true}),
    );
    assert_eq!(
        document(&s, &s.variables),
        br#"{"query":"q","variables":{"a":true,"b":{"a":[{"x":2,"y":1}],"z":1}}}"#
    );
}

#[test]
fn get_puts_the_request_in_the_query_string_as_go_encodes_it() {
    // lura's ExampleExtractor: QueryFromParams.
    let s = settings(
        "{\n  find_follower(func: uid(\"0x3\")) {\n    name \n    }\n  }\n",
        "",
        json!({"foo": "foobar", "bar": "1234abc"}),
    );
    assert_eq!(
        String::from_utf8(with_query(b"/g", &s, &s.variables)).unwrap(),
        "/g?query=%7B%0A++find_follower%28func%3A+uid%28%220x3%22%29%29+%7B%0A++++name+%0A++++%7D%0A++%7D%0A&variables=%7B%22bar%22%3A%221234abc%22%2C%22foo%22%3A%22foobar%22%7D"
    );
    let s = settings("{ a }", "Op", json!({}));
    assert_eq!(
        with_query(b"/g?x=1", &s, &s.variables),
        b"/g?x=1&operationName=Op&query=%7B+a+%7D"
    );
    assert_eq!(
        with_query(b"/g?", &s, &s.variables),
        b"/g?operationName=Op&query=%7B+a+%7D"
    );
}

#[test]
fn the_content_type_is_replaced() {
    assert_eq!(
        json_headers(b"Accept: */*\r\ncontent-type: text/plain\r\nX-A: b\r\n"),
        b"Accept: */*\r\nX-A: b\r\nContent-Type: application/json\r\n"
    );
    assert_eq!(json_headers(b""), b"Content-Type: application/json\r\n");
}

#[test]
fn a_mutation_takes_a_json_object_from_the_client() {
    let vars = client_variables(br#"{"b": 1, "a": "x"}"#).unwrap();
    assert_eq!(serde_json::Value::Object(vars), json!({"a": "x", "b": 1}));
    assert!(client_variables(b"null").unwrap().is_empty());
    let message = |body: &[u8]| client_variables(body).unwrap_err().to_string();
    assert_eq!(message(b""), "unexpected end of JSON input");
    assert_eq!(
        message(b"[1]"),
        "json: cannot unmarshal array into Go value of type map[string]interface {}"
    );
    assert!(message(b"{x").starts_with("the request body is not JSON"));
}
