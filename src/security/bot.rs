//! `security/bot-detector`: krakend-botdetector's decision on the
//! `User-Agent`, compiled once per worker. In order: an empty or missing
//! User-Agent is a bot only with `empty_user_agent_is_bot`; an `allow`
//! entry (exact) is never a bot; a `deny` entry (exact) always is; else it
//! is a bot when any of the `patterns` matches anywhere in it (one
//! `RegexSet`, one pass). With `cache_size`, decisions are remembered in
//! this worker's LRU so that a repeated User-Agent skips the regexes.

use std::cell::RefCell;

use ahash::AHashSet;
use regex::bytes::RegexSet;

use super::lru::Lru;
use crate::config::BotDetectorSettings;

/// User-Agents longer than this are decided without the cache: a client
/// sending huge, ever-changing values must not make the cache hold
/// `cache_size` times the largest header the server accepts.
pub const MAX_CACHED_USER_AGENT: usize = 512;

pub struct BotDetector {
    allow: AHashSet<Box<[u8]>>,
    deny: AHashSet<Box<[u8]>>,
    patterns: Option<RegexSet>,
    empty_is_bot: bool,
    cache: Option<RefCell<Lru>>,
}

impl BotDetector {
    /// `settings.patterns` were checked to compile when the configuration
    /// was built.
    pub fn new(settings: &BotDetectorSettings) -> Result<BotDetector, regex::Error> {
        let patterns = if settings.patterns.is_empty() {
            None
        } else {
            Some(RegexSet::new(&settings.patterns)?)
        };
        let set = |entries: &[String]| entries.iter().map(|e| e.as_bytes().into()).collect();
        Ok(BotDetector {
            allow: set(&settings.allow),
            deny: set(&settings.deny),
            patterns,
            empty_is_bot: settings.empty_user_agent_is_bot,
            cache: (settings.cache_size > 0).then(|| RefCell::new(Lru::new(settings.cache_size))),
        })
    }

    /// Whether a request with this `User-Agent` value (first one) is a bot.
    pub fn is_bot(&self, user_agent: Option<&[u8]>) -> bool {
        let user_agent = user_agent.unwrap_or_default();
        let Some(cache) = &self.cache else {
            return self.decide(user_agent);
        };
        if user_agent.len() > MAX_CACHED_USER_AGENT {
            return self.decide(user_agent);
        }
        // `decide` touches no cache, so the borrow is never held twice.
        let mut cache = cache.borrow_mut();
        if let Some(bot) = cache.get(user_agent) {
            return bot;
        }
        let bot = self.decide(user_agent);
        cache.insert(user_agent, bot);
        bot
    }

    fn decide(&self, user_agent: &[u8]) -> bool {
        if user_agent.is_empty() {
            return self.empty_is_bot;
        }
        if self.allow.contains(user_agent) {
            return false;
        }
        if self.deny.contains(user_agent) {
            return true;
        }
        self.patterns
            .as_ref()
            .is_some_and(|set| set.is_match(user_agent))
    }

    /// Decisions currently cached (for tests and benches).
    pub fn cached(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.borrow().len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// KrakenD CE's own integration fixture.
    fn krakend_fixture(cache_size: usize) -> BotDetector {
        BotDetector::new(&BotDetectorSettings {
            deny: vec!["a".into(), "b".into()],
            allow: vec!["c".into(), "Pingdom.com_bot_version_1.1".into()],
            patterns: vec![
                "(Pingdom.com_bot_version_).*".into(),
                "(facebookexternalhit)/.*".into(),
            ],
            cache_size,
            empty_user_agent_is_bot: false,
        })
        .unwrap()
    }

    #[test]
    fn allow_deny_patterns() {
        for cache_size in [0, 2] {
            let detector = krakend_fixture(cache_size);
            for (ua, bot) in [
                (Some("a"), true),
                (Some("b"), true),
                (Some("c"), false),
                (Some("A"), false),
                (Some("Pingdom.com_bot_version_1.1"), false),
                (Some("Pingdom.com_bot_version_1.14"), true),
                (Some("facebookexternalhit/1.2.3"), true),
                (Some("Mozilla/5.0 facebookexternalhit/1.1"), true),
                (Some("facebookexternalhit"), false),
                (Some("curl/8.0"), false),
                (Some(""), false),
                (None, false),
            ] {
                // Twice: the second answer may come from the cache.
                for _ in 0..2 {
                    assert_eq!(
                        detector.is_bot(ua.map(str::as_bytes)),
                        bot,
                        "{ua:?} cache {cache_size}"
                    );
                }
            }
            assert!(detector.cached() <= cache_size);
        }
    }

    #[test]
    fn empty_user_agent_is_bot() {
        let detector = BotDetector::new(&BotDetectorSettings {
            empty_user_agent_is_bot: true,
            ..BotDetectorSettings::default()
        })
        .unwrap();
        assert!(detector.is_bot(None));
        assert!(detector.is_bot(Some(b"")));
        assert!(!detector.is_bot(Some(b"x")));
    }

    #[test]
    fn long_user_agents_bypass_the_cache() {
        let detector = krakend_fixture(4);
        let long = format!("facebookexternalhit/{}", "x".repeat(MAX_CACHED_USER_AGENT));
        assert!(detector.is_bot(Some(long.as_bytes())));
        assert_eq!(detector.cached(), 0);
        assert!(detector.is_bot(Some(b"a")));
        assert_eq!(detector.cached(), 1);
    }
}
