//! Rate-limit headers: the IETF draft `RateLimit` / `RateLimit-Policy` fields that REST v2
//! sends, the older `RateLimit-Limit/-Remaining/-Reset` and the common `X-RateLimit-*` style.

use std::time::Duration;

use http::HeaderMap;

/// The quota state a response advertised.
///
/// REST v2 sends one member per window (`minute`, `hour`, `day`) in
/// `RateLimit: "minute";r=0;t=12, "hour";r=2800;t=1812` and
/// `RateLimit-Policy: "minute";q=60;w=60, "hour";q=3000;w=3600`. All windows are in
/// [`windows`](Self::windows); the top-level fields describe the binding one, the window with the
/// fewest requests remaining (the later reset wins a tie).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RateLimit {
    /// Quota of the binding window.
    pub limit: Option<u64>,
    /// Requests left in the binding window.
    pub remaining: Option<u64>,
    /// Time until the binding window resets.
    pub reset: Option<Duration>,
    /// The raw `RateLimit-Policy` header, if sent.
    pub policy: Option<String>,
    /// Every window the headers described.
    pub windows: Vec<RateLimitWindow>,
}

/// One rate-limit window.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RateLimitWindow {
    /// Window name (`"minute"`), when the server names it.
    pub name: Option<String>,
    /// Quota in the window (`q`).
    pub limit: Option<u64>,
    /// Requests left (`r`).
    pub remaining: Option<u64>,
    /// Time until the window resets (`t`).
    pub reset: Option<Duration>,
    /// Length of the window (`w`).
    pub window: Option<Duration>,
}

impl RateLimit {
    /// Reads the rate-limit headers; `None` when there are none.
    pub fn from_headers(headers: &HeaderMap) -> Option<RateLimit> {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let policy = get("ratelimit-policy").map(str::to_owned);
        let mut windows = Vec::new();

        if let Some(value) = get("ratelimit") {
            if value.contains("remaining=") || value.contains("limit=") || value.contains("reset=")
            {
                windows.push(parse_draft07(value));
            } else {
                windows = parse_structured(value)
                    .into_iter()
                    .map(|m| RateLimitWindow {
                        remaining: m.param("r"),
                        reset: m.param("t").map(Duration::from_secs),
                        name: m.name,
                        ..RateLimitWindow::default()
                    })
                    .collect();
            }
        } else {
            let date = get("date");
            for prefix in ["ratelimit-", "x-ratelimit-"] {
                let field = |suffix: &str| get(&format!("{prefix}{suffix}"));
                let limit = field("limit").and_then(leading_u64);
                let remaining = field("remaining").and_then(leading_u64);
                let reset = field("reset").and_then(|r| reset_delay(r, date));
                if limit.is_some() || remaining.is_some() || reset.is_some() {
                    windows.push(RateLimitWindow {
                        limit,
                        remaining,
                        reset,
                        ..RateLimitWindow::default()
                    });
                    break;
                }
            }
        }

        if let Some(policy) = &policy {
            merge_policy(&mut windows, policy);
        }
        if windows.is_empty() && policy.is_none() {
            return None;
        }
        let binding = windows
            .iter()
            .min_by(|a, b| {
                let ra = a.remaining.unwrap_or(u64::MAX);
                let rb = b.remaining.unwrap_or(u64::MAX);
                ra.cmp(&rb).then(b.reset.cmp(&a.reset))
            })
            .cloned()
            .unwrap_or_default();
        Some(RateLimit {
            limit: binding.limit,
            remaining: binding.remaining,
            reset: binding.reset,
            policy,
            windows,
        })
    }
}

/// `limit=100, remaining=50, reset=30` (draft-ietf-httpapi-ratelimit-headers-07).
fn parse_draft07(value: &str) -> RateLimitWindow {
    let mut w = RateLimitWindow::default();
    for part in value.split([',', ';']) {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "limit" => w.limit = leading_u64(v),
            "remaining" => w.remaining = leading_u64(v),
            "reset" => w.reset = leading_u64(v).map(Duration::from_secs),
            "w" => w.window = leading_u64(v).map(Duration::from_secs),
            _ => {}
        }
    }
    w
}

/// Adds the policy's quota (`q`) and window (`w`) to the windows of the same name, or adds
/// windows when `RateLimit` was absent.
fn merge_policy(windows: &mut Vec<RateLimitWindow>, policy: &str) {
    for member in parse_structured(policy) {
        // The older draft writes the quota as the item itself: `100;w=60`.
        let limit = member
            .param("q")
            .or_else(|| member.item.as_deref().and_then(leading_u64));
        let window = member.param("w").map(Duration::from_secs);
        let existing = windows
            .iter_mut()
            .find(|w| w.name == member.name || (w.name.is_none() && member.name.is_none()));
        match existing {
            Some(w) => {
                w.limit = w.limit.or(limit);
                w.window = w.window.or(window);
            }
            None => windows.push(RateLimitWindow {
                name: member.name,
                limit,
                window,
                ..RateLimitWindow::default()
            }),
        }
    }
}

#[derive(Debug, Default)]
struct Member {
    /// A string or token item (`"minute"`, `minute`).
    name: Option<String>,
    /// A bare numeric item.
    item: Option<String>,
    params: Vec<(String, String)>,
}

impl Member {
    fn param(&self, key: &str) -> Option<u64> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| leading_u64(v))
    }
}

/// A lenient reader for the structured-field lists these headers use:
/// `"minute";r=0;t=12, "hour";r=2800;t=1812`.
fn parse_structured(value: &str) -> Vec<Member> {
    split_outside_quotes(value, ',')
        .into_iter()
        .filter(|m| !m.trim().is_empty())
        .map(|m| {
            let mut parts = split_outside_quotes(m, ';').into_iter();
            let head = parts.next().unwrap_or_default().trim();
            let mut member = Member::default();
            if let Some(name) = head.strip_prefix('"').and_then(|h| h.strip_suffix('"')) {
                member.name = Some(name.to_owned());
            } else if head.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
                member.item = Some(head.to_owned());
            } else if !head.is_empty() {
                member.name = Some(head.to_owned());
            }
            for p in parts {
                if let Some((k, v)) = p.split_once('=') {
                    member
                        .params
                        .push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                }
            }
            member
        })
        .collect()
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn leading_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}

/// `X-RateLimit-Reset` is seconds-until-reset in most APIs but an epoch timestamp in some;
/// a value past 2001 is read as a timestamp, measured against the response's `Date`.
fn reset_delay(value: &str, date: Option<&str>) -> Option<Duration> {
    let n = leading_u64(value)?;
    if n < 1_000_000_000 {
        return Some(Duration::from_secs(n));
    }
    let now = httpdate::parse_http_date(date?).ok()?;
    let at = std::time::UNIX_EPOCH + Duration::from_secs(n);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn secs(n: u64) -> Option<Duration> {
        Some(Duration::from_secs(n))
    }

    #[test]
    fn rest_v2_structured_windows() {
        let rl = RateLimit::from_headers(&headers(&[
            (
                "RateLimit",
                r#""minute";r=0;t=12, "hour";r=2800;t=1812, "day";r=49500;t=45012"#,
            ),
            (
                "RateLimit-Policy",
                r#""minute";q=60;w=60, "hour";q=3000;w=3600, "day";q=50000;w=86400"#,
            ),
        ]))
        .unwrap();
        assert_eq!(rl.limit, Some(60));
        assert_eq!(rl.remaining, Some(0));
        assert_eq!(rl.reset, secs(12));
        assert_eq!(
            rl.policy.as_deref(),
            Some(r#""minute";q=60;w=60, "hour";q=3000;w=3600, "day";q=50000;w=86400"#)
        );
        assert_eq!(rl.windows.len(), 3);
        assert_eq!(
            rl.windows[1],
            RateLimitWindow {
                name: Some("hour".into()),
                limit: Some(3000),
                remaining: Some(2800),
                reset: secs(1812),
                window: secs(3600),
            }
        );
    }

    #[test]
    fn binding_window_is_the_one_with_fewest_remaining() {
        let rl = RateLimit::from_headers(&headers(&[(
            "ratelimit",
            r#""minute";r=40;t=12, "day";r=3;t=4000"#,
        )]))
        .unwrap();
        assert_eq!(rl.remaining, Some(3));
        assert_eq!(rl.reset, secs(4000));
        assert_eq!(rl.limit, None);
        assert_eq!(rl.policy, None);
    }

    #[test]
    fn draft07_combined_field() {
        let rl = RateLimit::from_headers(&headers(&[
            ("RateLimit", "limit=100, remaining=50, reset=30"),
            ("RateLimit-Policy", "100;w=60"),
        ]))
        .unwrap();
        assert_eq!(
            (rl.limit, rl.remaining, rl.reset),
            (Some(100), Some(50), secs(30))
        );
        assert_eq!(rl.windows[0].window, secs(60));
        assert_eq!(rl.policy.as_deref(), Some("100;w=60"));
    }

    #[test]
    fn separate_fields_and_x_prefixed() {
        let rl = RateLimit::from_headers(&headers(&[
            ("RateLimit-Limit", "10"),
            ("RateLimit-Remaining", "9"),
            ("RateLimit-Reset", "7"),
        ]))
        .unwrap();
        assert_eq!(
            (rl.limit, rl.remaining, rl.reset),
            (Some(10), Some(9), secs(7))
        );

        let rl = RateLimit::from_headers(&headers(&[
            ("X-RateLimit-Limit", "2000"),
            ("X-RateLimit-Remaining", "1999"),
            ("X-RateLimit-Reset", "10"),
        ]))
        .unwrap();
        assert_eq!(
            (rl.limit, rl.remaining, rl.reset),
            (Some(2000), Some(1999), secs(10))
        );
    }

    #[test]
    fn x_ratelimit_reset_as_epoch_uses_date_header() {
        let rl = RateLimit::from_headers(&headers(&[
            ("X-RateLimit-Remaining", "0"),
            // 2015-10-21T07:28:00Z = 1445412480
            ("X-RateLimit-Reset", "1445412510"),
            ("Date", "Wed, 21 Oct 2015 07:28:00 GMT"),
        ]))
        .unwrap();
        assert_eq!(rl.reset, secs(30));
        let rl = RateLimit::from_headers(&headers(&[
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", "1445412510"),
        ]))
        .unwrap();
        assert_eq!(rl.reset, None);
    }

    #[test]
    fn none_without_headers_and_garbage_is_tolerated() {
        assert_eq!(RateLimit::from_headers(&HeaderMap::new()), None);
        let rl = RateLimit::from_headers(&headers(&[("RateLimit", "\"a,b\";r=x;t=")])).unwrap();
        assert_eq!(rl.windows[0].name.as_deref(), Some("a,b"));
        assert_eq!(rl.remaining, None);
    }
}
