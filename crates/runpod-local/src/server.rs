//! Building, running and stopping the server.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::ApiError;
use crate::faults::{FaultConfig, FaultInjector, Outcome, Route, Target, route_of_path};
use crate::inline::InlineHandler;
use crate::routes;
use crate::store::Store;

/// The local Runpod endpoint. Start one with [`Server::builder`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Server;

impl Server {
    /// A builder with Runpod's defaults: results kept 30 min (`/run`) and 1 min (`/runsync`),
    /// 10 min execution timeout, 24 h ttl, 10 s long-poll hold, 30 s heartbeat timeout, no key.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }
}

type ShutdownSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Settings for a [`Server`]; finish with [`bind`](Self::bind) or [`serve`](Self::serve).
#[derive(Default)]
pub struct ServerBuilder {
    config: Config,
    shutdown_signal: Option<ShutdownSignal>,
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field("shutdown_signal", &self.shutdown_signal.is_some())
            .finish()
    }
}

impl ServerBuilder {
    /// Answer every endpoint's jobs inside the server with `handler` (input in, output or an
    /// error message out), so that a client can be tested against a real queue without a worker
    /// process.
    ///
    /// Jobs still go through the queue as with a worker — `IN_QUEUE`, `IN_PROGRESS`, then
    /// `COMPLETED` with the output or `FAILED` with the error (also when the handler panics) —
    /// so timeouts, cancellation, `/retry`, `/runsync`, webhooks and `/health` work as usual.
    /// Each job runs in a task of its own. Workers may still connect, and take whatever the
    /// in-process handler has not taken yet.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// let server = runpod_local::Server::builder()
    ///     .inline_handler(|input: serde_json::Value| async move {
    ///         let n = input["n"].as_i64().ok_or("input.n must be an integer")?;
    ///         Ok(serde_json::json!({ "square": n * n }))
    ///     })
    ///     .bind("127.0.0.1:0")
    ///     .await?;
    /// # let _ = server;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn inline_handler<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, String>> + Send + 'static,
    {
        self.config.inline_handler = Some(InlineHandler::new(handler));
        self
    }

    /// [`inline_handler`](Self::inline_handler) answering every job with its input as output.
    #[must_use]
    pub fn echo(mut self) -> Self {
        self.config.inline_handler = Some(InlineHandler::echo());
        self
    }

    /// Require this key: clients send `Authorization: Bearer <key>`, workers the raw key.
    /// Without a key every request is accepted.
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.config.api_key = Some(key.into());
        self
    }

    /// How long a finished `/run` job stays readable (default 30 min).
    #[must_use]
    pub fn result_retention(mut self, retention: Duration) -> Self {
        self.config.result_retention = retention;
        self
    }

    /// How long a finished `/runsync` job stays readable (default 1 min).
    #[must_use]
    pub fn sync_result_retention(mut self, retention: Duration) -> Self {
        self.config.sync_result_retention = retention;
        self
    }

    /// How long job-take and job-stop hold an empty long poll before answering 204 (default 10 s).
    #[must_use]
    pub fn hold_time(mut self, hold: Duration) -> Self {
        self.config.hold_time = hold;
        self
    }

    /// Execution timeout of jobs whose request sets no `policy.executionTimeout` (default 600 s).
    #[must_use]
    pub fn default_execution_timeout(mut self, timeout: Duration) -> Self {
        self.config.default_execution_timeout = timeout;
        self
    }

    /// Lifespan of jobs whose request sets no `policy.ttl` (default 24 h).
    #[must_use]
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.config.default_ttl = ttl;
        self
    }

    /// Silence after which a worker counts as gone and its jobs are queued again (default 30 s).
    /// Pings, takes, results and open long polls all count as signs of life.
    #[must_use]
    pub fn heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.config.heartbeat_timeout = timeout;
        self
    }

    /// Listen on a non-loopback address without an API key. Without this, [`bind`](Self::bind)
    /// and [`serve`](Self::serve) refuse such an address (`PermissionDenied`), because anyone
    /// who can reach it could queue jobs, read every result and trigger webhooks; with it, the
    /// server starts and logs a warning.
    #[must_use]
    pub fn insecure_no_auth(mut self, insecure: bool) -> Self {
        self.config.insecure_no_auth = insecure;
        self
    }

    /// Hosts (names or IP addresses, as written in URLs) that webhooks may go to besides
    /// loopback, over `http://` or `https://`; a job whose webhook is another scheme, malformed,
    /// or to a host not allowed is refused at `/run` with 400.
    #[must_use]
    pub fn allow_webhook_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.webhook_hosts = hosts.into_iter().map(Into::into).collect();
        self
    }

    /// A PEM file of certificate authorities that `https://` webhook receivers may chain to,
    /// besides the public (webpki) roots: for a receiver with a private or self-signed
    /// certificate. Repeatable; read when the server starts, where a file that cannot be read or
    /// holds no certificate is an `InvalidInput` error.
    #[must_use]
    pub fn webhook_ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.config.webhook_ca_files.push(path.into());
        self
    }

    /// Limits on queued jobs, stored bytes, ids, stream chunks, connections and slow clients
    /// (defaults in [`Limits::default`](crate::Limits::default)).
    #[must_use]
    pub fn limits(mut self, limits: crate::Limits) -> Self {
        self.config.limits = limits;
        self
    }

    /// Inject faults (429, 5xx, dropped connections, latency) into requests.
    #[must_use]
    pub fn faults(mut self, faults: FaultConfig) -> Self {
        self.config.faults = faults;
        self
    }

    /// Registers a worker of a load-balancing endpoint: requests to `/lb/{endpoint_id}/{path}`
    /// are proxied to the healthy workers of `endpoint_id` (see [`LbWorker`](crate::LbWorker)).
    #[must_use]
    pub fn lb_worker(mut self, worker: crate::LbWorker) -> Self {
        self.config.lb_workers.push(worker);
        self
    }

    /// Starts a worker of a load-balancing endpoint from a command with `PORT` set, and
    /// registers it like [`lb_worker`](Self::lb_worker) (see [`LbSpawn`](crate::LbSpawn)); it
    /// is stopped with the server.
    #[must_use]
    pub fn lb_spawn(mut self, spawn: crate::LbSpawn) -> Self {
        self.config.lb_spawns.push(spawn);
        self
    }

    /// Limits and waits of the load-balancing gateway (default: Runpod's).
    #[must_use]
    pub fn lb_limits(mut self, limits: crate::LbLimits) -> Self {
        self.config.lb_limits = limits;
        self
    }

    /// Stop gracefully when `signal` completes (as well as on [`RunningServer::shutdown`] or drop).
    #[must_use]
    pub fn shutdown_on(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.shutdown_signal = Some(Box::pin(signal));
        self
    }

    /// Binds `addr` (port 0 picks a free port) and starts serving on the current tokio runtime.
    ///
    /// A non-loopback address without an [`api_key`](Self::api_key) is refused before anything
    /// is bound (`PermissionDenied`), unless [`insecure_no_auth`](Self::insecure_no_auth).
    pub async fn bind(self, addr: impl ToSocketAddrs) -> io::Result<RunningServer> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr).await?.collect();
        for addr in &addrs {
            crate::exposure::check_listener(
                *addr,
                self.config.api_key.is_some(),
                self.config.insecure_no_auth,
            )?;
        }
        let listener = TcpListener::bind(&addrs[..]).await?;
        self.serve(listener)
    }

    /// Starts serving on an already bound listener, on the current tokio runtime.
    pub fn serve(mut self, listener: TcpListener) -> io::Result<RunningServer> {
        let addr = listener.local_addr()?;
        if crate::exposure::check_listener(
            addr,
            self.config.api_key.is_some(),
            self.config.insecure_no_auth,
        )? {
            crate::exposure::warn_open(addr);
        }
        self.config.webhook_tls = Some(crate::webhook_tls::WebhookTls::new(
            &self.config.webhook_ca_files,
        )?);
        let shutdown = CancellationToken::new();
        if let Some(signal) = self.shutdown_signal {
            let token = shutdown.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = signal => token.cancel(),
                    () = token.cancelled() => {}
                }
            });
        }
        let api_key = self.config.api_key.clone();
        let mut lb_workers = self.config.lb_workers.clone();
        for spawn in &self.config.lb_spawns {
            lb_workers.push(spawn.prepare()?);
        }
        let gateway = crate::lb::Gateway::new(&lb_workers, self.config.lb_limits, api_key.clone())
            .map(Arc::new)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let processes = crate::lb::start_processes(&gateway, &shutdown).inspect_err(|_| {
            // Stops the processes already started.
            shutdown.cancel();
        })?;
        gateway.start_pollers(&shutdown);
        let faults = FaultInjector::new(self.config.faults.clone()).map(Arc::new);
        let limits = self.config.limits.clone();
        let mut store = Store::new(Arc::new(self.config), shutdown.clone());
        if let Some(handler) = store.config().inline_handler.clone() {
            store = store.with_first_job_hook(move |store, endpoint| {
                crate::inline::serve_endpoint(
                    Arc::clone(store),
                    handler.clone(),
                    endpoint.to_owned(),
                );
            });
        }
        let store = Arc::new(store);
        tokio::spawn(store.clone().run_reaper());
        // The offline REST v2 subset shares the key; its endpoints' requestUrls point at this
        // server's queue routes (from the request's Host), where any endpoint id has a queue.
        let mut rest = crate::rest_v2::RestV2State::new();
        if let Some(key) = &api_key {
            rest = rest.api_key(key.clone());
        }
        #[cfg(feature = "console")]
        let console = crate::console::router(store.clone(), gateway.clone(), faults.clone());
        let app = routes::router(store)
            .merge(crate::rest_v2::router(rest))
            .merge(crate::lb::router(gateway.clone()));
        #[cfg(feature = "console")]
        let app = app.merge(console);
        let task = tokio::spawn(accept_loop(listener, app, faults, limits, shutdown.clone()));
        tracing::info!(%addr, "runpod-local listening");
        for endpoint_id in gateway.endpoint_ids() {
            let workers = gateway.workers(endpoint_id).map_or(0, <[_]>::len);
            tracing::info!(
                endpoint_id,
                workers,
                "load-balancing endpoint at /lb/{endpoint_id}"
            );
        }
        Ok(RunningServer {
            addr,
            gateway,
            api_key,
            shutdown,
            task: Some(task),
            processes,
        })
    }
}

/// A server that is running. Dropping it stops it gracefully in the background;
/// [`shutdown`](Self::shutdown) stops it and waits.
pub struct RunningServer {
    addr: SocketAddr,
    gateway: Arc<crate::lb::Gateway>,
    api_key: Option<String>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
    /// The watchers of spawned load-balancing workers; each ends once its process is gone.
    processes: Vec<JoinHandle<()>>,
}

impl fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://HOST:PORT/v2`, the value for `RUNPOD_ENDPOINT_BASE_URL`.
    pub fn serverless_base_url(&self) -> String {
        format!("{}/v2", self.base_url())
    }

    /// `http://HOST:PORT/lb/{endpoint_id}`, the load-balancing base URL template (the value for
    /// `RUNPOD_LB_BASE_URL`, with the literal `{endpoint_id}`).
    pub fn lb_base_url_template(&self) -> String {
        format!("{}/lb/{{endpoint_id}}", self.base_url())
    }

    /// `http://HOST:PORT/lb/ENDPOINT_ID`, where the gateway answers one load-balancing endpoint.
    pub fn lb_url(&self, endpoint_id: &str) -> String {
        format!("{}/lb/{endpoint_id}", self.base_url())
    }

    /// The load-balancing endpoints with registered workers, and their workers' health counts.
    pub fn lb_counts(&self) -> Vec<(String, crate::LbCounts)> {
        self.gateway
            .endpoint_ids()
            .map(|id| (id.to_owned(), self.gateway.counts(id)))
            .collect()
    }

    /// The changes of [`lb_counts`](Self::lb_counts), as they happen.
    pub fn lb_watch(&self) -> crate::LbWatch {
        crate::LbWatch::new(self.gateway.clone(), self.shutdown.clone())
    }

    /// What the `runpod-local` binary prints on start: `listening on http://HOST:PORT`, then
    /// `export` lines (POSIX-shell quoted) with the environment a worker serving `endpoint_id`
    /// needs and `RUNPOD_ENDPOINT_BASE_URL` for clients, then `#` comment lines (load-balancing
    /// endpoints, and the console's address with the `console` feature). Ends with a newline.
    pub fn announcement(&self, endpoint_id: &str, worker_id: &str) -> String {
        let mut text = format!("listening on {}\n", self.base_url());
        let client_env = (
            "RUNPOD_ENDPOINT_BASE_URL".to_owned(),
            self.serverless_base_url(),
        );
        for (name, value) in self
            .worker_env(endpoint_id, worker_id)
            .into_iter()
            .chain(std::iter::once(client_env))
        {
            text.push_str(&format!("export {name}={}\n", shell_quote(&value)));
        }
        if !self.gateway.is_empty() {
            text.push_str(&format!(
                "export RUNPOD_LB_BASE_URL={}\n",
                shell_quote(&self.lb_base_url_template())
            ));
        }
        for (endpoint_id, counts) in self.lb_counts() {
            let workers = counts.healthy + counts.initializing + counts.unhealthy;
            text.push_str(&format!(
                "# load-balancing endpoint {endpoint_id}: {} ({workers} workers: {counts})\n",
                self.lb_url(&endpoint_id)
            ));
        }
        #[cfg(feature = "console")]
        text.push_str(&format!("# console: {}/\n", self.base_url()));
        text
    }

    /// The environment a worker needs to serve `endpoint_id` as `worker_id`: the
    /// `RUNPOD_WEBHOOK_*` URL templates (with the literal `$ID` / `$RUNPOD_POD_ID` placeholders
    /// the worker substitutes), `RUNPOD_POD_ID` and `RUNPOD_AI_API_KEY`. Without a configured
    /// key the key is `local`, because the Python worker only sends heartbeats when it has one.
    pub fn worker_env(&self, endpoint_id: &str, worker_id: &str) -> Vec<(String, String)> {
        let base = format!("{}/{endpoint_id}", self.serverless_base_url());
        let url = |route: Route, rest: &str| format!("{base}/{}/{rest}?gpu=LOCAL", route.segment());
        [
            ("RUNPOD_WEBHOOK_GET_JOB", url(Route::JobTake, "$ID")),
            (
                "RUNPOD_WEBHOOK_POST_OUTPUT",
                url(Route::JobDone, "$RUNPOD_POD_ID/$ID"),
            ),
            (
                "RUNPOD_WEBHOOK_POST_STREAM",
                url(Route::JobStream, "$RUNPOD_POD_ID/$ID"),
            ),
            ("RUNPOD_WEBHOOK_PING", url(Route::Ping, "$RUNPOD_POD_ID")),
            ("RUNPOD_POD_ID", worker_id.to_owned()),
            (
                "RUNPOD_AI_API_KEY",
                self.api_key.clone().unwrap_or_else(|| "local".to_owned()),
            ),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }

    /// Stops accepting, ends open long polls, lets in-flight requests finish, stops the spawned
    /// load-balancing workers, and waits.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        self.join().await;
    }

    /// Waits until the server stops, through the builder's
    /// [`shutdown_on`](ServerBuilder::shutdown_on) signal.
    pub async fn stopped(mut self) {
        self.join().await;
    }

    async fn join(&mut self) {
        if let Some(task) = self.task.take()
            && let Err(error) = task.await
        {
            tracing::error!(%error, "server task failed");
        }
        for process in self.processes.drain(..) {
            if let Err(error) = process.await {
                tracing::error!(%error, "lb worker watcher failed");
            }
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn accept_loop(
    listener: TcpListener,
    app: Router,
    faults: Option<Arc<FaultInjector>>,
    limits: crate::Limits,
    shutdown: CancellationToken,
) {
    let service = TowerToHyperService::new(app);
    let mut connections = JoinSet::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.connections));
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                        // Over the limit: a short answer and close, without touching the others.
                        let answer = crate::limits::too_many_connections(limits.connections);
                        tokio::spawn(refuse_connection(stream, answer));
                        continue;
                    };
                    let serve = serve_connection(
                        stream,
                        service.clone(),
                        faults.clone(),
                        &limits,
                        shutdown.clone(),
                    );
                    connections.spawn(async move {
                        serve.await;
                        drop(slot);
                    });
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = shutdown.cancelled() => break,
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    tracing::info!("runpod-local stopped");
}

/// Answers a connection over the limit with `answer` and closes it. The request is read first
/// and the rest drained after: a connection closed with unread bytes is reset, and the client
/// would see a broken connection instead of the answer (and could not tell that its `POST` was
/// never handled). Each phase is bounded, so a silent client costs a second at most.
async fn refuse_connection(mut stream: TcpStream, answer: Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = [0u8; 4096];
    let mut head = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        // Until the blank line that ends the head (or 16 KiB of it, or the end).
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(&answer).await?;
        stream.shutdown().await?;
        // The body, if any, until the client closes: its answer says `connection: close`.
        while stream.read(&mut buffer).await? > 0 {}
        Ok::<(), io::Error>(())
    })
    .await;
}

/// The error that makes hyper close a connection without answering (a "drop" fault).
#[derive(Debug)]
struct DroppedByFault;

impl fmt::Display for DroppedByFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DroppedByFault {}

fn serve_connection(
    stream: TcpStream,
    service: TowerToHyperService<Router>,
    faults: Option<Arc<FaultInjector>>,
    limits: &crate::Limits,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + use<> {
    let handler = hyper::service::service_fn(move |request: Request<Incoming>| {
        let service = service.clone();
        let faults = faults.clone();
        async move {
            if let Some(faults) = faults
                && let Some(route) = route_of_path(request.uri().path())
            {
                let admitted = match (faults.limits(), route) {
                    (Some(limits), Target::Route(route)) => {
                        match limits.admit(route, request.uri().path()) {
                            Ok(admitted) => admitted,
                            Err(()) => {
                                tracing::debug!(%route, "fault: over Runpod's rate limit");
                                return Ok(ApiError::new(
                                    StatusCode::TOO_MANY_REQUESTS,
                                    format!("rate limit of {route} exceeded"),
                                )
                                .into_response());
                            }
                        }
                    }
                    // The gateway has no documented limits of its own to enforce.
                    _ => None,
                };
                let (delay, outcome) = faults.draw(route);
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let status = match outcome {
                    Outcome::Pass => None,
                    Outcome::Drop => {
                        tracing::debug!(%route, "fault: dropping the connection");
                        return Err(DroppedByFault);
                    }
                    Outcome::TooManyRequests => Some(StatusCode::TOO_MANY_REQUESTS),
                    Outcome::ServerError => Some(StatusCode::SERVICE_UNAVAILABLE),
                };
                if let Some(status) = status {
                    tracing::debug!(%route, %status, "fault: answering an error");
                    return Ok(
                        ApiError::new(status, format!("injected fault on {route}")).into_response()
                    );
                }
                // In flight until the handler has answered.
                let response = hyper::service::Service::call(&service, request)
                    .await
                    .map_err(|never| match never {});
                drop(admitted);
                return response;
            }
            hyper::service::Service::call(&service, request)
                .await
                .map_err(|never| match never {})
        }
    });
    // A client that does not finish its headers in time is disconnected (slowloris); bodies
    // have their own deadline where they are read (`routes::read_body`).
    // HTTP/1.1 and HTTP/2, told apart by the first bytes (HTTP/2 by prior knowledge, as a
    // client that knows the server sends it; runpod-rs's client over TLS negotiates it).
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A client that does not finish its headers in time is disconnected (slowloris); bodies
    // have their own deadline where they are read (`routes::read_body`).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.streams_per_connection);
    async move {
        let connection = builder.serve_connection(TokioIo::new(stream), handler);
        let mut connection = pin!(connection);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
            }
            () = shutdown.cancelled() => {
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
            }
        }
    }
}

/// Quotes for POSIX shells when needed; `$ID` and friends must reach the worker literally.
fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@%+,=".contains(c));
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn values_with_shell_syntax_are_single_quoted() {
        assert_eq!(
            shell_quote("http://127.0.0.1:1/v2"),
            "http://127.0.0.1:1/v2"
        );
        assert_eq!(
            shell_quote("http://h/v2/local/job-take/$ID?gpu=LOCAL"),
            "'http://h/v2/local/job-take/$ID?gpu=LOCAL'"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
