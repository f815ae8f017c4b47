//! What the process knows about each named connection across its
//! workers: whether one of them finds it down (the `cuttle_redis_up`
//! gauge, and the one warning at the switch and the one info line at the
//! recovery), and how many decisions fell back while it was
//! (`cuttle_ratelimit_fallback_total`).
//!
//! Shared by the workers, so atomics: they change when a connection is
//! lost or comes back, and on the fallback path only (a decision made
//! without Redis), never on a request that Redis answers.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use arc_swap::ArcSwapOption;

/// What a limiter did for a decision Redis could not make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    Allow,
    Refuse,
    Local,
}

impl Fallback {
    const ALL: [Fallback; 3] = [Fallback::Allow, Fallback::Refuse, Fallback::Local];

    fn label(self) -> &'static str {
        match self {
            Fallback::Allow => "allow",
            Fallback::Refuse => "refuse",
            Fallback::Local => "local",
        }
    }
}

#[derive(Debug)]
pub struct Health {
    pub name: String,
    /// Workers' links to it that are down now.
    down: AtomicUsize,
    fallbacks: [AtomicU64; 3],
}

impl Health {
    /// A link of this connection went down; `why` is logged if it is the
    /// first one (the process switches to its fallbacks).
    pub fn link_down(&self, why: &dyn std::fmt::Display) {
        if self.down.fetch_add(1, Ordering::Relaxed) == 0 {
            tracing::warn!(
                connection = %self.name,
                "Redis connection '{}' is down ({why}): rate limits on it use their fallback (on_failure) until it answers again; retrying every second",
                self.name
            );
        }
    }

    /// A link that was down answers again.
    pub fn link_up(&self) {
        if self.down.fetch_sub(1, Ordering::Relaxed) == 1 {
            tracing::info!(
                connection = %self.name,
                "Redis connection '{}' answers again: rate limits on it count in Redis again",
                self.name
            );
        }
    }

    /// A link that was down is dropped (a reload): it no longer counts,
    /// and nothing is logged (the connection did not come back).
    pub fn link_gone(&self) {
        self.down.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn fell_back(&self, how: Fallback) {
        let i = Fallback::ALL.iter().position(|f| *f == how).unwrap_or(0);
        self.fallbacks[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn is_up(&self) -> bool {
        self.down.load(Ordering::Relaxed) == 0
    }
}

static REGISTRY: ArcSwapOption<Vec<Arc<Health>>> = ArcSwapOption::const_empty();

/// The health of connection `name`, made on first use (workers build
/// their links at start and reload, off the request path).
pub fn of(name: &str) -> Arc<Health> {
    loop {
        let current = REGISTRY.load_full();
        if let Some(found) = current
            .iter()
            .flat_map(|all| all.iter())
            .find(|h| h.name == name)
        {
            return found.clone();
        }
        let made = Arc::new(Health {
            name: name.to_owned(),
            down: AtomicUsize::new(0),
            fallbacks: Default::default(),
        });
        let mut next: Vec<Arc<Health>> = current.as_deref().cloned().unwrap_or_default();
        next.push(made.clone());
        let previous = REGISTRY.compare_and_swap(&current, Some(Arc::new(next)));
        let same = match (&*previous, &current) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if same {
            return made;
        }
    }
}

/// `cuttle_redis_up{connection}` and `cuttle_ratelimit_fallback_total`
/// in the Prometheus text format, for the connections a limiter uses.
pub fn render_metrics(out: &mut String) {
    let all = REGISTRY.load_full();
    let Some(all) = all.as_deref().filter(|a| !a.is_empty()) else {
        return;
    };
    out.push_str("# HELP cuttle_redis_up Whether every worker's connection to this Redis answers (0: limits on it use their fallback).\n# TYPE cuttle_redis_up gauge\n");
    for health in all {
        let _ = writeln!(
            out,
            "cuttle_redis_up{{connection=\"{}\"}} {}",
            escaped(&health.name),
            u8::from(health.is_up())
        );
    }
    out.push_str("# HELP cuttle_ratelimit_fallback_total Rate-limit decisions made without Redis, by the fallback used.\n# TYPE cuttle_ratelimit_fallback_total counter\n");
    for health in all {
        for (how, count) in Fallback::ALL.iter().zip(&health.fallbacks) {
            let _ = writeln!(
                out,
                "cuttle_ratelimit_fallback_total{{connection=\"{}\",on_failure=\"{}\"}} {}",
                escaped(&health.name),
                how.label(),
                count.load(Ordering::Relaxed)
            );
        }
    }
}

/// A label value in the text format: `\`, `"` and newlines escaped.
fn escaped(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_health_per_name_and_rendered() {
        let a = of("health-test-a\"x");
        let again = of("health-test-a\"x");
        assert!(Arc::ptr_eq(&a, &again));
        a.link_down(&"test");
        a.link_down(&"test");
        a.fell_back(Fallback::Local);
        let mut out = String::new();
        render_metrics(&mut out);
        assert!(
            out.contains("cuttle_redis_up{connection=\"health-test-a\\\"x\"} 0"),
            "{out}"
        );
        assert!(out.contains(
            "cuttle_ratelimit_fallback_total{connection=\"health-test-a\\\"x\",on_failure=\"local\"} 1"
        ));
        a.link_up();
        assert!(!a.is_up());
        a.link_up();
        assert!(a.is_up());
    }
}
