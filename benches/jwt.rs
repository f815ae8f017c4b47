//! Token validation (`auth/validator`) per algorithm, as a worker runs it
//! per request (`JwtCheck::check`: parse, key lookup, signature, claims,
//! roles), once with the verified-token cache off ("cold": every request
//! pays the signature check) and once with it on ("cached": a client that
//! repeats its token). Keys are made when the bench starts
//! (`tests/common/jwt.rs`; RSA with the `openssl` command).

#[path = "../tests/common/jwt.rs"]
mod jwt;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use cuttle::auth::alg::ALL;
use cuttle::auth::claims::Rules;
use cuttle::auth::jwk::{KeyIdStrategy, KeySet};
use cuttle::auth::keys::Published;
use cuttle::auth::validator::{AuthSpec, JwtCheck, ValidatorSpec};
use serde_json::json;

fn check_for(key: &jwt::TestKey, cache_size: usize) -> JwtCheck {
    let set = KeySet::parse(jwt::jwks(&[key]).as_bytes()).unwrap();
    JwtCheck::new(Arc::new(AuthSpec {
        validators: vec![ValidatorSpec {
            alg: key.alg,
            keys: Arc::new(Published::with("bench", set)),
            key_id: KeyIdStrategy::Kid,
            rules: Rules {
                issuer: Some("https://idp.test".into()),
                audience: vec!["api".into()],
                roles: vec!["user".into()],
                ..Rules::default()
            },
            auth_header: "authorization".into(),
            cookie_key: "access_token".into(),
            propagate: Vec::new(),
            operation_debug: false,
        }],
        cache_size,
        revoker: None,
    }))
}

fn validation(c: &mut Criterion) {
    let now = jwt::now();
    let claims = json!({"sub": "1234567890", "iss": "https://idp.test", "aud": "api",
        "exp": now + 3600, "iat": now, "roles": ["user", "admin"], "scope": "read write"});
    let mut group = c.benchmark_group("jwt");
    for alg in ALL {
        let key = jwt::generate(alg, "k1");
        let token = jwt::token(&key, &claims);
        let t = now as f64;
        let cold = check_for(&key, 0);
        assert!(cold.check(Some(&token), t).is_ok());
        group.bench_function(format!("cold/{}", alg.name()), |b| {
            b.iter(|| black_box(cold.check(Some(black_box(&token)), t).is_ok()))
        });
        let cached = check_for(&key, 1024);
        assert!(cached.check(Some(&token), t).is_ok());
        group.bench_function(format!("cached/{}", alg.name()), |b| {
            b.iter(|| black_box(cached.check(Some(black_box(&token)), t).is_ok()))
        });
    }
    group.finish();
}

criterion_group!(benches, validation);
criterion_main!(benches);
