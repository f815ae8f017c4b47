use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

fn ip(text: &str) -> ClientId<'static> {
    ClientId::Ip(text.parse().unwrap())
}

/// name, strategy, header value, param value, expected.
type Case = (
    &'static str,
    ClientStrategy,
    Option<&'static [u8]>,
    Option<&'static [u8]>,
    Option<ClientId<'static>>,
);

#[test]
fn keys_per_strategy() {
    let header_ip = ClientStrategy::Ip {
        header: Some("x-forwarded-for".into()),
    };
    let cases: &[Case] = &[
        (
            "peer ip",
            ClientStrategy::Ip { header: None },
            None,
            None,
            Some(ClientId::Ip(PEER)),
        ),
        (
            "ip from header",
            header_ip.clone(),
            Some(b"10.0.0.1, 10.0.0.2"),
            None,
            Some(ip("10.0.0.1")),
        ),
        (
            "ip with port",
            header_ip.clone(),
            Some(b"10.0.0.1:443"),
            None,
            Some(ip("10.0.0.1")),
        ),
        (
            "ipv6",
            header_ip.clone(),
            Some(b" 2001:db8::1 "),
            None,
            Some(ip("2001:db8::1")),
        ),
        (
            "ipv6 with port",
            header_ip.clone(),
            Some(b"[2001:db8::1]:80"),
            None,
            Some(ip("2001:db8::1")),
        ),
        (
            "not an ip: the peer",
            header_ip.clone(),
            Some(b"unknown"),
            None,
            Some(ClientId::Ip(PEER)),
        ),
        (
            "no header: the peer",
            header_ip.clone(),
            None,
            None,
            Some(ClientId::Ip(PEER)),
        ),
        (
            "header",
            ClientStrategy::Header("x-api-key".into()),
            Some(b"k1"),
            None,
            Some(ClientId::Text(b"k1")),
        ),
        (
            "header missing",
            ClientStrategy::Header("x-api-key".into()),
            None,
            None,
            None,
        ),
        (
            "header empty",
            ClientStrategy::Header("x-api-key".into()),
            Some(b""),
            None,
            None,
        ),
        (
            "param",
            ClientStrategy::Param("id".into()),
            None,
            Some(b"42"),
            Some(ClientId::Text(b"42")),
        ),
        (
            "param empty",
            ClientStrategy::Param("id".into()),
            None,
            Some(b""),
            None,
        ),
    ];
    for (name, strategy, header, param, expected) in cases {
        let found = client_id(strategy, PEER, |_| *header, |_| *param);
        assert_eq!(found, *expected, "{name}");
    }
}

#[test]
fn lookups_use_the_configured_names() {
    let mut asked = Vec::new();
    let strategy = ClientStrategy::Header("x-tenant".into());
    client_id(
        &strategy,
        PEER,
        |name| {
            asked.push(name.to_owned());
            None
        },
        |_| None,
    );
    assert_eq!(asked, ["x-tenant"]);
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let found = client_id(&ClientStrategy::Ip { header: None }, v6, |_| None, |_| None);
    assert_eq!(found, Some(ClientId::Ip(v6)));
}
