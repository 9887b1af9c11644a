//! REST v2 answers: the biggest models (Pod, Endpoint, Template, NetworkVolume) and lists of them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runpod_types::rest::{Endpoint, NetworkVolume, Pod, Template};

fuzz_target!(|data: &[u8]| {
    let Some((which, body)) = data.split_first() else {
        return;
    };
    match which % 8 {
        0 => runpod_fuzz::round_trip::<Pod>(body),
        1 => runpod_fuzz::round_trip::<Endpoint>(body),
        2 => runpod_fuzz::round_trip::<Template>(body),
        3 => runpod_fuzz::round_trip::<NetworkVolume>(body),
        4 => runpod_fuzz::round_trip::<Vec<Pod>>(body),
        5 => runpod_fuzz::round_trip::<Vec<Endpoint>>(body),
        6 => runpod_fuzz::round_trip::<Vec<Template>>(body),
        _ => runpod_fuzz::round_trip::<Vec<NetworkVolume>>(body),
    }
});
