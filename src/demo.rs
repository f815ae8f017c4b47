//! `cuttle demo`: small built-in backends on loopback plus the gateway on
//! `config/demo.json`, so the first command of the README shows something.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;

/// Where the demo config's backends listen.
pub const DEMO_BACKEND: &str = "127.0.0.1:8001";
const DEMO_CONFIG: &str = include_str!("../config/demo.json");

/// The demo backend's answer for a path: (status, content type, body).
pub fn demo_response(path: &str) -> (u16, &'static str, String) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["users", id] if id.parse::<u32>().is_ok() => (
            200,
            "application/json",
            format!(
                r#"{{"id":{id},"name":"User {id}","email":"user{id}@example.com","password_hash":"x","company":{{"name":"Cuttlefish Ltd","catchphrase":"ink"}}}}"#
            ),
        ),
        ["users", id, "posts"] if id.parse::<u32>().is_ok() => (
            200,
            "application/json",
            format!(r#"[{{"id":1,"user":{id},"title":"Hello"}},{{"id":2,"user":{id},"title":"Thread per core"}}]"#),
        ),
        ["weather.xml"] => (
            200,
            "application/xml",
            r#"<?xml version="1.0"?><report><forecast unit="C"><today>14</today><tomorrow>11</tomorrow></forecast></report>"#.into(),
        ),
        _ => (404, "text/plain", "not found\n".into()),
    }
}

fn serve_demo_connection(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_string();
        let mut content_length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; content_length];
        reader.read_exact(&mut body)?;
        let (status, content_type, body) = demo_response(path.split('?').next().unwrap_or("/"));
        write!(
            writer,
            "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            if status == 200 { "OK" } else { "Not Found" },
            body.len()
        )?;
    }
}

/// Starts the demo backend on its own thread.
pub fn start_backend() -> std::io::Result<()> {
    let listener = TcpListener::bind(DEMO_BACKEND)?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve_demo_connection(stream));
        }
    });
    Ok(())
}

/// The demo configuration, read from `config/demo.json` if present, else
/// the copy built into the binary, and prepared.
pub fn config()
-> Result<(crate::config::Config, crate::prepare::Prepared), crate::config::ConfigError> {
    let path = Path::new("config/demo.json");
    let config = if path.exists() {
        crate::config::load(path)
    } else {
        crate::config::parse(DEMO_CONFIG, path)
    }?;
    let prepared = crate::prepare::Prepared::new(&config, path)?;
    Ok((config, prepared))
}

pub fn print_instructions(port: u16) {
    println!("cuttle demo: backends on {DEMO_BACKEND}, gateway on 127.0.0.1:{port}. Try:");
    println!(
        "  curl -i http://127.0.0.1:{port}/users/1      # two backends merged, filtered and renamed"
    );
    println!("  curl -i http://127.0.0.1:{port}/weather      # an XML backend served as JSON");
    println!(
        "  curl -i http://127.0.0.1:{port}/raw/users/1  # no-op: the backend's answer untouched"
    );
    println!("Ctrl-C stops it.");
}
