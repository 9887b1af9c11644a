//! Wire names to Rust names.

/// Splits `delayTime`, `IN_QUEUE`, `HTTPServer`, `s3Config` into words.
pub(crate) fn words(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if c.is_ascii_uppercase() && !cur.is_empty() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push(std::mem::take(&mut cur));
            }
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "box", "break", "const", "continue", "crate", "do", "dyn", "else",
    "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop",
    "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return", "self",
    "Self", "static", "struct", "super", "trait", "true", "try", "type", "typeof", "unsafe",
    "unsized", "use", "virtual", "where", "while", "yield", "abstract", "become",
];

/// `delayTime` → `delay_time`; `type` → `type_`.
pub(crate) fn snake(s: &str) -> String {
    let mut out = words(s)
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_");
    if out.is_empty() {
        out.push_str("field");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if KEYWORDS.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// `IN_QUEUE` → `InQueue`; `podStatus` → `PodStatus`.
pub(crate) fn upper_camel(s: &str) -> String {
    let mut out = String::new();
    for w in words(s) {
        let mut cs = w.chars();
        if let Some(first) = cs.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(cs.map(|c| c.to_ascii_lowercase()));
        }
    }
    if out.is_empty() {
        out.push_str("Empty");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    if out == "Self" {
        out.push('_');
    }
    out
}

/// A type name built from a parent type and one of its properties (`Pod` + `status`).
pub(crate) fn nested(parent: &str, prop: &str) -> String {
    format!("{parent}{}", upper_camel(prop))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_cases() {
        assert_eq!(snake("delayTime"), "delay_time");
        assert_eq!(snake("s3Config"), "s3_config");
        assert_eq!(snake("webhookV2"), "webhook_v2");
        assert_eq!(snake("error_type"), "error_type");
        assert_eq!(snake("type"), "type_");
        assert_eq!(snake("gpuTypeIds"), "gpu_type_ids");
        assert_eq!(snake("HTTPServer"), "http_server");
        assert_eq!(snake("containerDiskInGb"), "container_disk_in_gb");
    }

    #[test]
    fn upper_camel_cases() {
        assert_eq!(upper_camel("IN_QUEUE"), "InQueue");
        assert_eq!(upper_camel("TIMED_OUT"), "TimedOut");
        assert_eq!(
            upper_camel("NVIDIA GeForce RTX 4090"),
            "NvidiaGeForceRtx4090"
        );
        assert_eq!(upper_camel("3090"), "V3090");
        assert_eq!(upper_camel("self"), "Self_");
        assert_eq!(upper_camel("us-east-1"), "UsEast1");
    }
}
