//! Seeded fault injection: 429 and 5xx answers, dropped connections and added latency, per route.
//!
//! Faults are decided before a request reaches its handler, so a faulted request changes nothing
//! in the queue (a dropped `/run` creates no job). Each route draws from its own generator seeded
//! from [`FaultConfig::seed`], so the faults one route sees do not depend on traffic to another.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

/// A route of the local endpoint, named in `--fault` rules by its path segment (`run`,
/// `job-take`, …): the route table generated from the protocol schema, shared with the client
/// and the worker runtime.
pub use runpod_types::serverless::Route;

/// What a request addresses, for fault injection: a route of the queue API and the worker
/// protocol, or the load-balancing gateway (`/lb/{endpoint}/…`, `lb` in rules), which is plain
/// HTTP to a worker's own server and so has no route of the protocol's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Target {
    Route(Route),
    Lb,
}

impl From<Route> for Target {
    fn from(route: Route) -> Self {
        Target::Route(route)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Route(route) => write!(f, "{route}"),
            Target::Lb => f.write_str("lb"),
        }
    }
}

/// What a request path (`/v2/{endpoint}/{route}/…`, `/lb/{endpoint}/…`) addresses, if any.
pub(crate) fn route_of_path(path: &str) -> Option<Target> {
    if path.starts_with("/lb/") {
        return Some(Target::Lb);
    }
    Route::from_path(path.strip_prefix("/v2")?).map(Target::Route)
}

/// The route named by its segment (or `lb`), for `--fault` rules.
fn parse_route(name: &str) -> Result<Target, ParseError> {
    if name == "lb" {
        return Ok(Target::Lb);
    }
    Route::from_segment(name)
        .map(Target::Route)
        .ok_or_else(|| ParseError(format!("unknown route `{name}`")))
}

/// A target's slot among the fault generators' seeds (the gateway after every route).
fn route_index(target: Target) -> u64 {
    match target {
        Target::Route(route) => route.index() as u64,
        Target::Lb => Route::ALL.len() as u64,
    }
}

/// The faults injected into one route's requests.
///
/// Rates are probabilities between 0 and 1 (values outside are clamped); they are exclusive
/// outcomes of one draw per request, so their sum should stay at or below 1.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RouteFaults {
    too_many_requests: f64,
    server_error: f64,
    drop_connection: f64,
    latency: Duration,
    jitter: Duration,
}

impl RouteFaults {
    /// No faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Share of requests answered `429 Too Many Requests`.
    #[must_use]
    pub fn too_many_requests(mut self, rate: f64) -> Self {
        self.too_many_requests = clamp_rate(rate);
        self
    }

    /// Share of requests answered `503 Service Unavailable`.
    #[must_use]
    pub fn server_error(mut self, rate: f64) -> Self {
        self.server_error = clamp_rate(rate);
        self
    }

    /// Share of requests whose connection is closed without an answer.
    #[must_use]
    pub fn drop_connection(mut self, rate: f64) -> Self {
        self.drop_connection = clamp_rate(rate);
        self
    }

    /// Delay added before every request is handled.
    #[must_use]
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Extra random delay, uniform between zero and `jitter`, added to [`latency`](Self::latency).
    #[must_use]
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Whether this injects nothing.
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }
}

fn clamp_rate(rate: f64) -> f64 {
    if rate.is_nan() {
        0.0
    } else {
        rate.clamp(0.0, 1.0)
    }
}

/// Fault injection for a whole server: a seed, faults for every route, and per-route overrides.
///
/// ```
/// use std::time::Duration;
/// use runpod_local::{FaultConfig, Route, RouteFaults};
///
/// let faults = FaultConfig::new()
///     .seed(7)
///     .all_routes(RouteFaults::new().latency(Duration::from_millis(5)))
///     .route(Route::JobDone, RouteFaults::new().server_error(0.2))
///     .rule("run:429=0.1,drop=0.05")
///     .unwrap();
/// # let _ = faults;
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    seed: u64,
    all_routes: RouteFaults,
    routes: BTreeMap<Target, RouteFaults>,
    runpod_limits: bool,
    /// Every setting in the order it was made, so that the server can replay them with some
    /// `--fault` rules switched off (the console's fault toggles).
    steps: Vec<Step>,
}

/// One setting of a [`FaultConfig`], as made.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    AllRoutes(RouteFaults),
    Route(Target, RouteFaults),
    RunpodLimits(bool),
    /// A rule in the command-line syntax, as written.
    Rule(String),
}

impl FaultConfig {
    /// No faults, seed 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Seed of the fault generators; the same seed and request sequence give the same faults.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Faults for every route that has no [`route`](Self::route) entry of its own.
    #[must_use]
    pub fn all_routes(mut self, faults: RouteFaults) -> Self {
        self.all_routes = faults;
        self.steps.push(Step::AllRoutes(faults));
        self
    }

    /// Faults for one route; replaces the [`all_routes`](Self::all_routes) faults there.
    #[must_use]
    pub fn route(mut self, route: Route, faults: RouteFaults) -> Self {
        self.routes.insert(Target::Route(route), faults);
        self.steps.push(Step::Route(Target::Route(route), faults));
        self
    }

    /// Faults for every request to the load-balancing gateway (`/lb/…`; `lb` in rules).
    #[must_use]
    pub fn load_balancer(mut self, faults: RouteFaults) -> Self {
        self.routes.insert(Target::Lb, faults);
        self.steps.push(Step::Route(Target::Lb, faults));
        self
    }

    /// Answers 429 beyond Runpod's documented per-endpoint limits (per 10 s and in flight:
    /// `/run` 1 000 / 200; `/runsync`, `/status` with `/status-sync`, `/stream` 2 000 / 400;
    /// `/cancel` 100 / 20; `/purge-queue` 2), as Runpod does. The rule `runpod-limits` sets it.
    #[must_use]
    pub fn runpod_limits(mut self, yes: bool) -> Self {
        self.runpod_limits = yes;
        self.steps.push(Step::RunpodLimits(yes));
        self
    }

    /// Applies a rule in the command-line syntax `ROUTE:KIND=VALUE[,KIND=VALUE…]`.
    ///
    /// `ROUTE` is a route segment (`run`, `job-done`, …) or `*` for every route. `KIND` is
    /// `429`, `5xx` or `drop` with a rate between 0 and 1, or `latency` / `jitter` with a
    /// duration (`250ms`, `2s`). A rule for a route starts from that route's current faults.
    pub fn rule(self, rule: &str) -> Result<Self, ParseError> {
        let before = self.steps.len();
        let mut config = self.apply_rule(rule)?;
        // Whatever steps applying it recorded, the rule is kept as one step, as written.
        config.steps.truncate(before);
        config.steps.push(Step::Rule(rule.to_owned()));
        Ok(config)
    }

    fn apply_rule(mut self, rule: &str) -> Result<Self, ParseError> {
        if rule.trim() == "runpod-limits" {
            return Ok(self.runpod_limits(true));
        }
        let (route, settings) = rule
            .split_once(':')
            .ok_or_else(|| ParseError(format!("`{rule}` is not ROUTE:KIND=VALUE")))?;
        let route = match route.trim() {
            "*" | "all" => None,
            name => Some(parse_route(name)?),
        };
        let mut faults = match route {
            None => self.all_routes,
            Some(route) => self.routes.get(&route).copied().unwrap_or_default(),
        };
        for setting in settings.split(',') {
            let (kind, value) = setting
                .split_once('=')
                .ok_or_else(|| ParseError(format!("`{setting}` is not KIND=VALUE")))?;
            let value = value.trim();
            faults = match kind.trim() {
                "429" => faults.too_many_requests(parse_rate(value)?),
                "5xx" | "503" | "500" => faults.server_error(parse_rate(value)?),
                "drop" => faults.drop_connection(parse_rate(value)?),
                "latency" => faults.latency(parse_duration(value)?),
                "jitter" => faults.jitter(parse_duration(value)?),
                other => {
                    return Err(ParseError(format!(
                        "unknown fault `{other}` (expected 429, 5xx, drop, latency or jitter)"
                    )));
                }
            };
        }
        match route {
            None => self.all_routes = faults,
            Some(route) => {
                self.routes.insert(route, faults);
            }
        }
        Ok(self)
    }

    /// Whether no route has any fault.
    pub fn is_none(&self) -> bool {
        !self.runpod_limits
            && self.all_routes.is_none()
            && self.routes.values().all(RouteFaults::is_none)
    }

    /// The `--fault` rules applied, as written, in order.
    pub(crate) fn rules(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().filter_map(|step| match step {
            Step::Rule(rule) => Some(rule.as_str()),
            _ => None,
        })
    }

    /// The same settings made again, with only the rules whose index `enabled` accepts.
    #[cfg_attr(not(feature = "console"), allow(dead_code))]
    pub(crate) fn with_rules(&self, enabled: impl Fn(usize) -> bool) -> FaultConfig {
        let mut config = FaultConfig::new().seed(self.seed);
        let mut index = 0;
        for step in &self.steps {
            config = match step {
                Step::AllRoutes(faults) => config.all_routes(*faults),
                Step::Route(target, faults) => {
                    config.routes.insert(*target, *faults);
                    config.steps.push(step.clone());
                    config
                }
                Step::RunpodLimits(yes) => config.runpod_limits(*yes),
                Step::Rule(rule) => {
                    index += 1;
                    if enabled(index - 1) {
                        // It parsed when it was first applied.
                        config.clone().rule(rule).unwrap_or(config)
                    } else {
                        config.steps.push(step.clone());
                        config
                    }
                }
            };
        }
        config
    }

    fn for_route(&self, route: impl Into<Target>) -> RouteFaults {
        self.routes
            .get(&route.into())
            .copied()
            .unwrap_or(self.all_routes)
    }
}

fn parse_rate(value: &str) -> Result<f64, ParseError> {
    match value.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(ParseError(format!(
            "`{value}` is not a rate between 0 and 1"
        ))),
    }
}

/// Parses `250ms`, `2s`, `5m`, `1h`, or a bare number of seconds.
pub(crate) fn parse_duration(value: &str) -> Result<Duration, ParseError> {
    let value = value.trim();
    let digits_end = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(digits_end);
    let bad = || {
        ParseError(format!(
            "`{value}` is not a duration like 250ms, 2s, 5m or 1h"
        ))
    };
    let number: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

/// A fault rule, route name or duration that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub(crate) String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Pass,
    TooManyRequests,
    ServerError,
    Drop,
}

/// The runtime side: one seeded generator per route.
#[derive(Debug)]
pub(crate) struct FaultInjector {
    /// As configured, every rule on.
    config: FaultConfig,
    /// What applies now: `config` replayed with the rules switched on (see [`Self::set_rule`]).
    active: RwLock<ActiveFaults>,
    generators: Mutex<BTreeMap<Target, fastrand::Rng>>,
    limits: Option<std::sync::Arc<crate::rate_limits::RunpodLimits>>,
}

#[derive(Debug)]
struct ActiveFaults {
    config: FaultConfig,
    /// Per rule of `FaultInjector::config`, in order.
    #[cfg_attr(not(feature = "console"), allow(dead_code))]
    enabled: Vec<bool>,
}

impl FaultInjector {
    pub(crate) fn new(config: FaultConfig) -> Option<Self> {
        (!config.is_none()).then(|| Self {
            limits: config.runpod_limits.then(Default::default),
            active: RwLock::new(ActiveFaults {
                enabled: vec![true; config.rules().count()],
                config: config.clone(),
            }),
            config,
            generators: Mutex::new(BTreeMap::new()),
        })
    }

    fn active(&self) -> std::sync::RwLockReadGuard<'_, ActiveFaults> {
        self.active
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runpod's rate limits, when they are on.
    pub(crate) fn limits(&self) -> Option<&std::sync::Arc<crate::rate_limits::RunpodLimits>> {
        self.limits
            .as_ref()
            .filter(|_| self.active().config.runpod_limits)
    }

    /// The configured `--fault` rules, as written, and whether each is on.
    #[cfg_attr(not(feature = "console"), allow(dead_code))]
    pub(crate) fn rules(&self) -> Vec<(String, bool)> {
        let active = self.active();
        self.config
            .rules()
            .zip(&active.enabled)
            .map(|(rule, on)| (rule.to_owned(), *on))
            .collect()
    }

    /// Switches rule `index` on or off from the next request on; `false` if there is no such
    /// rule.
    #[cfg_attr(not(feature = "console"), allow(dead_code))]
    pub(crate) fn set_rule(&self, index: usize, enabled: bool) -> bool {
        let mut active = self
            .active
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(slot) = active.enabled.get_mut(index) else {
            return false;
        };
        *slot = enabled;
        let on = active.enabled.clone();
        active.config = self
            .config
            .with_rules(|i| on.get(i).copied().unwrap_or(true));
        true
    }

    /// Draws the delay and outcome for one request to `route`.
    pub(crate) fn draw(&self, route: impl Into<Target>) -> (Duration, Outcome) {
        let route = route.into();
        let faults = self.active().config.for_route(route);
        if faults.is_none() {
            return (Duration::ZERO, Outcome::Pass);
        }
        let mut generators = self
            .generators
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let rng = generators.entry(route).or_insert_with(|| {
            // Distinct, fixed streams per route: mix the route index into the seed.
            fastrand::Rng::with_seed(
                self.config.seed ^ (route_index(route) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            )
        });
        let jitter = if faults.jitter.is_zero() {
            Duration::ZERO
        } else {
            faults.jitter.mul_f64(rng.f64())
        };
        let roll = rng.f64();
        let outcome = if roll < faults.drop_connection {
            Outcome::Drop
        } else if roll < faults.drop_connection + faults.too_many_requests {
            Outcome::TooManyRequests
        } else if roll < faults.drop_connection + faults.too_many_requests + faults.server_error {
            Outcome::ServerError
        } else {
            Outcome::Pass
        };
        (faults.latency + jitter, outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_round_trip_through_their_segment() {
        for route in Route::ALL {
            assert_eq!(parse_route(route.segment()).unwrap(), Target::Route(route));
        }
        assert_eq!(parse_route("lb").unwrap(), Target::Lb);
        assert!(parse_route("nope").is_err());
    }

    #[test]
    fn route_from_path_reads_the_third_segment() {
        assert_eq!(route_of_path("/v2/ep/run"), Some(Target::Route(Route::Run)));
        assert_eq!(
            route_of_path("/v2/ep/status/abc"),
            Some(Target::Route(Route::Status))
        );
        assert_eq!(route_of_path("/lb/ep/v1/chat"), Some(Target::Lb));
        assert_eq!(
            route_of_path("/v2/ep/job-take-batch/w"),
            Some(Target::Route(Route::JobTakeBatch))
        );
        assert_eq!(route_of_path("/v2/ep"), None);
        assert_eq!(route_of_path("/v1/ep/run"), None);
    }

    #[test]
    fn rules_parse_and_override_per_route() {
        let config = FaultConfig::new()
            .rule("*:latency=20ms")
            .unwrap()
            .rule("job-done:5xx=0.25,drop=0.5")
            .unwrap()
            .rule("job-done:jitter=1s")
            .unwrap();
        assert_eq!(
            config.for_route(Route::Run),
            RouteFaults::new().latency(Duration::from_millis(20))
        );
        assert_eq!(
            config.for_route(Route::JobDone),
            RouteFaults::new()
                .server_error(0.25)
                .drop_connection(0.5)
                .jitter(Duration::from_secs(1))
        );
    }

    #[test]
    fn rules_replay_in_order_without_the_disabled_ones() {
        let config = FaultConfig::new()
            .seed(3)
            .all_routes(RouteFaults::new().latency(Duration::from_millis(5)))
            .rule("run:429=0.5")
            .unwrap()
            .rule("run:5xx=0.25")
            .unwrap()
            .route(Route::Status, RouteFaults::new().drop_connection(0.1))
            .rule("runpod-limits")
            .unwrap();
        assert_eq!(
            config.rules().collect::<Vec<_>>(),
            ["run:429=0.5", "run:5xx=0.25", "runpod-limits"]
        );
        // Everything on: the same as built.
        let all = config.with_rules(|_| true);
        assert_eq!(all.for_route(Route::Run), config.for_route(Route::Run));
        assert!(all.runpod_limits);
        // The first rule off: the second starts from the route's own (empty) faults.
        let second_only = config.with_rules(|i| i != 0);
        assert_eq!(
            second_only.for_route(Route::Run),
            RouteFaults::new().server_error(0.25)
        );
        // Settings made between rules stay, whatever is off.
        let none = config.with_rules(|_| false);
        assert_eq!(
            none.for_route(Route::Run),
            RouteFaults::new().latency(Duration::from_millis(5))
        );
        assert_eq!(
            none.for_route(Route::Status),
            RouteFaults::new().drop_connection(0.1)
        );
        assert!(!none.runpod_limits);
        assert_eq!(none.seed, 3);
        // The replay keeps the rule list, so indexes stay put.
        assert_eq!(none.rules().count(), 3);
    }

    #[test]
    fn the_injector_switches_rules_by_index() {
        let injector = FaultInjector::new(FaultConfig::new().rule("run:5xx=1").unwrap()).unwrap();
        assert_eq!(injector.draw(Route::Run).1, Outcome::ServerError);
        assert!(injector.set_rule(0, false));
        assert_eq!(injector.draw(Route::Run).1, Outcome::Pass);
        assert_eq!(injector.rules(), [("run:5xx=1".to_owned(), false)]);
        assert!(!injector.set_rule(1, false));
        assert!(injector.set_rule(0, true));
        assert_eq!(injector.draw(Route::Run).1, Outcome::ServerError);
    }

    #[test]
    fn bad_rules_are_rejected_with_a_reason() {
        for (rule, needle) in [
            ("run", "ROUTE:KIND=VALUE"),
            ("walk:429=0.1", "unknown route"),
            ("run:429", "KIND=VALUE"),
            ("run:429=2", "between 0 and 1"),
            ("run:latency=fast", "duration"),
            ("run:teapot=0.1", "unknown fault"),
        ] {
            let err = FaultConfig::new().rule(rule).unwrap_err().to_string();
            assert!(err.contains(needle), "{rule}: {err}");
        }
    }

    #[test]
    fn durations_parse_in_common_units() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("1d").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn draws_are_reproducible_and_near_the_configured_rates() {
        let config = FaultConfig::new().seed(42).route(
            Route::Run,
            RouteFaults::new()
                .too_many_requests(0.3)
                .drop_connection(0.1),
        );
        let sample = |config: &FaultConfig| {
            let injector = FaultInjector::new(config.clone()).unwrap();
            (0..2000)
                .map(|_| injector.draw(Route::Run).1)
                .collect::<Vec<_>>()
        };
        let first = sample(&config);
        assert_eq!(first, sample(&config));
        assert_ne!(first, sample(&config.clone().seed(43)));
        let share = |o| first.iter().filter(|x| **x == o).count() as f64 / first.len() as f64;
        assert!((share(Outcome::TooManyRequests) - 0.3).abs() < 0.05);
        assert!((share(Outcome::Drop) - 0.1).abs() < 0.03);
        assert_eq!(share(Outcome::ServerError), 0.0);
    }

    #[test]
    fn routes_without_faults_pass_untouched() {
        let injector = FaultInjector::new(
            FaultConfig::new().route(Route::Run, RouteFaults::new().server_error(1.0)),
        )
        .unwrap();
        assert_eq!(
            injector.draw(Route::Status),
            (Duration::ZERO, Outcome::Pass)
        );
        assert_eq!(injector.draw(Route::Run).1, Outcome::ServerError);
        assert!(FaultInjector::new(FaultConfig::new()).is_none());
    }
}
