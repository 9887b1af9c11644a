//! Worker runtime tests, against a scriptable fake platform (`platform`), httpmock (exact take
//! URLs), `runpod-local` (the real local endpoint) and the `echo_worker` example binary.

mod cancel;
mod echo_binary;
mod flows;
mod heartbeat;
mod ids;
mod local_server;
mod platform;
mod results;
mod shutdown;
mod startup;
mod take;
