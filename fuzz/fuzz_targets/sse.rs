//! The `text/event-stream` parser, compiled from the transport's own source file (it is
//! crate-private there). However the bytes are split, the events are the same.
#![no_main]

#[allow(dead_code, unreachable_pub)]
#[path = "../../crates/runpod-transport/src/sse.rs"]
mod sse;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((cut, body)) = data.split_first() else {
        return;
    };
    let whole = sse::SseParser::new().feed(body);
    let at = usize::from(*cut) % (body.len() + 1);
    let mut parser = sse::SseParser::new();
    let mut split = parser.feed(&body[..at]);
    split.extend(parser.feed(&body[at..]));
    assert_eq!(whole, split, "split at {at}");
    let _ = (parser.last_event_id(), parser.reconnect_delay());
    if body.len() <= 256 {
        let mut parser = sse::SseParser::new();
        let bytewise: Vec<_> = body.iter().flat_map(|b| parser.feed(&[*b])).collect();
        assert_eq!(whole, bytewise, "byte by byte");
    }
    parser.discard_partial();
});
