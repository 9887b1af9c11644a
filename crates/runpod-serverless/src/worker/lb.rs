//! Workers of load-balancing endpoints: your own HTTP API plus the health route Runpod polls.
//!
//! A load-balancing endpoint sends requests straight to the worker's HTTP server. The platform
//! tells the worker where to listen — `PORT` (default 80), `PORT_HEALTH` (default `PORT`) and
//! `HEALTH_CHECK_PATH` (default `/ping`) — and reads the health route: 204 while the worker is
//! initializing, 200 once it is ready, anything else to have it removed. [`LbServer`] does all
//! of that around an axum [`Router`] of your own; it never touches your routes (on the API port
//! the health path is answered before your router sees it).
//!
//! ```no_run
//! # use runpod_serverless::__runpod as runpod;
//! use runpod::worker::lb::axum::{Json, Router, routing::post};
//! use runpod::worker::lb::LbServer;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let app = Router::new().route(
//!         "/v1/square",
//!         post(|Json(n): Json<i64>| async move { Json(n * n) }),
//!     );
//!     LbServer::new(app)
//!         // Answered 204 on the health route until it finishes, 200 after.
//!         .init(|| async { Ok::<_, String>(()) /* load the model here */ })
//!         .serve()
//!         .await
//! }
//! ```
//!
//! `serve` binds `0.0.0.0`, stops on SIGTERM or Ctrl-C (or [`LbServer::shutdown_on`]), and lets
//! requests in flight finish before it returns.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The axum this helper is built with; use it (or the same 0.8 release) for your router.
pub use axum;

/// `HEALTH_CHECK_PATH`'s default.
pub const DEFAULT_HEALTH_PATH: &str = "/ping";
/// `PORT`'s default.
pub const DEFAULT_PORT: u16 = 80;

const INITIALIZING: u8 = 0;
const READY: u8 = 1;
const FAILED: u8 = 2;

type Init = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
type Signal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A load-balancing worker's HTTP server: your router, the health route, graceful shutdown.
#[must_use = "the server does nothing until `serve` or `bind`"]
pub struct LbServer {
    router: Router,
    init: Option<Init>,
    host: String,
    port: Option<u16>,
    health_port: Option<u16>,
    health_path: Option<String>,
    signal: Option<Signal>,
}

impl fmt::Debug for LbServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LbServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("health_port", &self.health_port)
            .field("health_path", &self.health_path)
            .field("init", &self.init.is_some())
            .finish_non_exhaustive()
    }
}

fn env_port(name: &str) -> io::Result<Option<u16>> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value.trim().parse().map(Some).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name} must be a port number, got `{value}`"),
            )
        }),
        _ => Ok(None),
    }
}

impl LbServer {
    /// A server for `router`; ports and health path come from the environment unless set here.
    pub fn new(router: Router) -> Self {
        Self {
            router,
            init: None,
            host: "0.0.0.0".to_owned(),
            port: None,
            health_port: None,
            health_path: None,
            signal: None,
        }
    }

    /// Runs `init` once the ports are bound; the health route answers 204 while it runs, 200
    /// when it succeeded, and 503 (with the error logged) when it failed — Runpod then removes
    /// the worker. Your routes are served meanwhile (Runpod sends them nothing before 200).
    pub fn init<F, Fut, E>(mut self, init: F) -> Self
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display,
    {
        let future = init();
        self.init = Some(Box::pin(
            async move { future.await.map_err(|e| e.to_string()) },
        ));
        self
    }

    /// The address to bind (default `0.0.0.0`, as Runpod requires).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// The API port (default `PORT`, else 80; 0 picks a free one).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// The health port (default `PORT_HEALTH`, else the API port). 0 picks a free one.
    pub fn health_port(mut self, port: u16) -> Self {
        self.health_port = Some(port);
        self
    }

    /// The health route (default `HEALTH_CHECK_PATH`, else `/ping`).
    pub fn health_path(mut self, path: impl Into<String>) -> Self {
        self.health_path = Some(path.into());
        self
    }

    /// Stops gracefully when `signal` completes, instead of on SIGTERM or Ctrl-C.
    pub fn shutdown_on(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.signal = Some(Box::pin(signal));
        self
    }

    /// Binds, starts the initializer and serves until shut down; requests in flight finish.
    ///
    /// # Errors
    /// A bad `PORT`/`PORT_HEALTH`, or a port that cannot be bound.
    pub async fn serve(self) -> io::Result<()> {
        self.bind().await?.stopped().await;
        Ok(())
    }

    /// Binds and starts serving in the background; see [`RunningLbServer`].
    ///
    /// # Errors
    /// As [`serve`](Self::serve).
    pub async fn bind(self) -> io::Result<RunningLbServer> {
        let port = match self.port {
            Some(port) => port,
            None => env_port("PORT")?.unwrap_or(DEFAULT_PORT),
        };
        let health_port = match self.health_port {
            Some(port) => Some(port),
            None => env_port("PORT_HEALTH")?,
        };
        let health_path = self
            .health_path
            .or_else(|| {
                std::env::var("HEALTH_CHECK_PATH")
                    .ok()
                    .filter(|p| !p.is_empty())
            })
            .unwrap_or_else(|| DEFAULT_HEALTH_PATH.to_owned());
        let health_path = format!("/{}", health_path.trim_start_matches('/'));

        let state = Arc::new(AtomicU8::new(if self.init.is_some() {
            INITIALIZING
        } else {
            READY
        }));
        let health_state = Arc::clone(&state);
        let health = Router::new().route(
            &health_path,
            get(move || {
                let state = health_state.load(Ordering::Acquire);
                async move {
                    match state {
                        READY => StatusCode::OK,
                        INITIALIZING => StatusCode::NO_CONTENT,
                        _ => StatusCode::SERVICE_UNAVAILABLE,
                    }
                }
            }),
        );
        let api = TcpListener::bind((self.host.as_str(), port)).await?;
        let addr = api.local_addr()?;
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        // The same port: the health route first, everything else to the user's router.
        let separate = health_port.filter(|p| *p != port || *p == 0);
        let health_addr = match separate {
            Some(health_port) => {
                let listener = TcpListener::bind((self.host.as_str(), health_port)).await?;
                let health_addr = listener.local_addr()?;
                tasks.spawn(run(listener, health, stop.clone()));
                tasks.spawn(run(api, self.router, stop.clone()));
                health_addr
            }
            None => {
                tasks.spawn(run(api, health.fallback_service(self.router), stop.clone()));
                addr
            }
        };
        tracing::info!(%addr, %health_addr, %health_path, "load-balancing worker listening");
        if let Some(init) = self.init {
            tokio::spawn(async move {
                match init.await {
                    Ok(()) => {
                        state.store(READY, Ordering::Release);
                        tracing::info!("initialized; the health route answers 200");
                    }
                    Err(error) => {
                        state.store(FAILED, Ordering::Release);
                        tracing::error!(%error, "initialization failed; the health route answers 503");
                    }
                }
            });
        }
        let signal = self.signal.unwrap_or_else(|| Box::pin(terminated()));
        let token = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = signal => token.cancel(),
                () = token.cancelled() => {}
            }
        });
        Ok(RunningLbServer {
            addr,
            health_addr,
            health_path,
            stop,
            tasks,
        })
    }
}

async fn run(listener: TcpListener, router: Router, stop: CancellationToken) {
    if let Err(error) = axum::serve(listener, router)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
    {
        tracing::error!(%error, "server failed");
    }
}

async fn terminated() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down; letting requests in flight finish");
}

/// A bound [`LbServer`].
#[derive(Debug)]
pub struct RunningLbServer {
    addr: SocketAddr,
    health_addr: SocketAddr,
    health_path: String,
    stop: CancellationToken,
    tasks: JoinSet<()>,
}

impl RunningLbServer {
    /// The API address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The health route's address (the API address unless `PORT_HEALTH` differs).
    pub fn health_addr(&self) -> SocketAddr {
        self.health_addr
    }

    /// The health route's path.
    pub fn health_path(&self) -> &str {
        &self.health_path
    }

    /// Stops accepting, lets requests in flight finish, and waits.
    pub async fn shutdown(self) {
        self.stop.cancel();
        self.stopped().await;
    }

    /// Waits until the server stops (SIGTERM, Ctrl-C or the `shutdown_on` signal).
    pub async fn stopped(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}
