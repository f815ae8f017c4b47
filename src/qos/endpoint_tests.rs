use std::time::{Duration, Instant};

use super::*;
use crate::config::{ClientRateLimit, RateSpec};

fn spec(max_rate: f64, capacity: u64) -> RateSpec {
    RateSpec {
        max_rate,
        every: Duration::from_secs(1),
        capacity,
    }
}

fn limit(endpoint: Option<RateSpec>, client: Option<RateSpec>) -> RouterRateLimit {
    RouterRateLimit {
        endpoint,
        client: client.map(|rate| ClientRateLimit {
            rate,
            strategy: ClientStrategy::Header("x-key".into()),
        }),
    }
}

type Step = (u64, Option<&'static [u8]>, Result<(), Limited>);

/// Each row: a limit, the worker count, then (ms, client key, outcome) in order.
#[test]
fn outcomes() {
    const A: Option<&[u8]> = Some(b"a");
    const B: Option<&[u8]> = Some(b"b");
    let ok = Ok(());
    let busy = Err(Limited::Endpoint);
    let slow_down = Err(Limited::Client);
    let cases: Vec<(&str, RouterRateLimit, usize, Vec<Step>)> = vec![
        (
            "endpoint-wide burst then 503, refill",
            limit(Some(spec(2.0, 2)), None),
            1,
            vec![
                (0, None, ok),
                (0, None, ok),
                (0, None, busy),
                (500, None, ok),
                (500, None, busy),
            ],
        ),
        (
            "endpoint-wide share of one of four workers",
            limit(Some(spec(8.0, 8)), None),
            4,
            // 2 per second and a burst of 2 on this worker.
            vec![
                (0, A, ok),
                (0, A, ok),
                (0, A, busy),
                (499, A, busy),
                (500, A, ok),
            ],
        ),
        (
            "per-client: isolated, 429",
            limit(None, Some(spec(1.0, 1))),
            4,
            vec![(0, A, ok), (0, A, slow_down), (0, B, ok), (1000, A, ok)],
        ),
        (
            "per-client: no key is 429",
            limit(None, Some(spec(1.0, 1))),
            1,
            vec![(0, None, slow_down), (0, A, ok)],
        ),
        (
            "a client refusal does not use the endpoint's tokens",
            limit(Some(spec(2.0, 2)), Some(spec(1.0, 1))),
            1,
            vec![
                (0, A, ok),
                (0, A, slow_down),
                (0, A, slow_down),
                (0, B, ok),
                (0, None, slow_down),
            ],
        ),
        (
            "an endpoint refusal still used the client's token",
            limit(Some(spec(1.0, 1)), Some(spec(2.0, 2))),
            1,
            vec![(0, A, ok), (0, A, busy), (0, A, slow_down)],
        ),
    ];
    let start = Instant::now();
    for (name, spec, workers, steps) in cases {
        let limiter = EndpointLimiter::new(&spec, workers, 64, start);
        for (index, (ms, key, expected)) in steps.into_iter().enumerate() {
            let now = start + Duration::from_millis(ms);
            let client = key.map(ClientId::Text);
            assert_eq!(limiter.check(now, client), expected, "{name}: step {index}");
        }
    }
}

#[test]
fn statuses_and_strategy() {
    assert_eq!(Limited::Endpoint.status(), 503);
    assert_eq!(Limited::Client.status(), 429);
    let start = Instant::now();
    let shared_only = EndpointLimiter::new(&limit(Some(spec(1.0, 1)), None), 1, 64, start);
    assert_eq!(shared_only.strategy(), None);
    let per_client = EndpointLimiter::new(&limit(None, Some(spec(1.0, 1))), 1, 64, start);
    assert_eq!(
        per_client.strategy(),
        Some(&ClientStrategy::Header("x-key".into()))
    );
}
