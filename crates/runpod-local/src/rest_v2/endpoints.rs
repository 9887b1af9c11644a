//! `/v2/serverless`: serverless endpoints, whose queues this server runs.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use runpod_types::rest::{
    CpuConfig, CreateCpuConfig, CreateEndpointRequest, Endpoint, EndpointGpuConfig,
    EndpointRequestUrls, EndpointScaling, EndpointType, EndpointWorkers, FlashBoot,
    ListEndpointsResponse, LoadBalancingRequestUrls, QueueBasedRequestUrls, UpdateEndpointRequest,
};
use runpod_types::serverless::Route;

use super::problem::Problem;
use super::state::{RestV2State, new_id};
use super::templates::{self, DEFAULT_DISK};
use super::validate::{Violations, parse_body, queue_base};

/// The spec's defaults for a create.
const DEFAULT_TIMEOUT_MS: i64 = 300_000;
const DEFAULT_WORKERS_MAX: i64 = 3;
const DEFAULT_IDLE_TIMEOUT_S: i64 = 10;
/// Memory per vCPU for a CPU flavor the catalog does not list, in GB.
const DEFAULT_RAM_PER_VCPU: f64 = 2.0;

pub(crate) async fn list(State(state): State<RestV2State>) -> Json<ListEndpointsResponse> {
    Json(ListEndpointsResponse {
        endpoints: state.account().endpoints.clone(),
    })
}

pub(crate) async fn get(
    State(state): State<RestV2State>,
    Path(id): Path<String>,
) -> Result<Json<Endpoint>, Problem> {
    state
        .account()
        .endpoints
        .iter()
        .find(|e| e.id == id)
        .cloned()
        .map(Json)
        .ok_or_else(|| Problem::not_found("endpoint", &id))
}

fn check_scaling(v: &mut Violations, scaling: &EndpointScaling) {
    match scaling {
        EndpointScaling::QueueDelay(q) => {
            v.check(q.queue_delay >= 0.5, || {
                "scaling.queueDelay: must be at least 0.5".to_owned()
            });
        }
        EndpointScaling::RequestCount(r) => {
            v.check(r.request_count >= 1, || {
                "scaling.requestCount: must be at least 1".to_owned()
            });
        }
        _ => v.check(false, || {
            "scaling.type: must be QUEUE_DELAY or REQUEST_COUNT".to_owned()
        }),
    }
}

fn check_workers(v: &mut Violations, min: Option<i64>, max: Option<i64>, idle: Option<i64>) {
    v.check(min.is_none_or(|m| m >= 0), || {
        "workers.min: must not be negative".to_owned()
    });
    v.check(max.is_none_or(|m| m >= 0), || {
        "workers.max: must not be negative".to_owned()
    });
    v.check(idle.is_none_or(|i| i >= 0), || {
        "workers.idleTimeout: must not be negative".to_owned()
    });
}

fn check_cpus(v: &mut Violations, cpus: &[CreateCpuConfig]) {
    v.check(!cpus.is_empty(), || {
        "cpu: must list at least 1 configuration".to_owned()
    });
    for (i, c) in cpus.iter().enumerate() {
        v.non_empty(&format!("cpu[{i}].id"), &c.id);
        v.check(c.vcpu_count >= 1, || {
            format!("cpu[{i}].vcpuCount: must be at least 1")
        });
        v.check(!cpus[..i].contains(c), || {
            format!("cpu[{i}]: duplicates an earlier configuration")
        });
    }
}

/// `400` rules that hold across fields (the body matches the contract but is rejected).
fn cross_field_rules(
    type_: Option<&EndpointType>,
    scaling: Option<&EndpointScaling>,
    min: Option<i64>,
    max: Option<i64>,
) -> Result<(), Problem> {
    if matches!(type_, Some(EndpointType::LoadBalancer))
        && matches!(scaling, Some(EndpointScaling::QueueDelay(_)))
    {
        return Err(Problem::bad_request(
            "QUEUE_DELAY scaling is for queue-based endpoints only",
        ));
    }
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        return Err(Problem::bad_request(
            "workers.min must not exceed workers.max",
        ));
    }
    Ok(())
}

fn cuda_rule(allowed: Option<&Vec<String>>, min: Option<&String>) -> Result<(), Problem> {
    if allowed.is_some_and(|a| !a.is_empty()) && min.is_some() {
        return Err(Problem::bad_request(
            "gpu.allowedCudaVersions and gpu.minCudaVersion are mutually exclusive",
        ));
    }
    Ok(())
}

fn cpu_configs(state: &RestV2State, cpus: Vec<CreateCpuConfig>) -> Vec<CpuConfig> {
    cpus.into_iter()
        .map(|c| {
            let per_vcpu = state
                .catalog()
                .cpus
                .iter()
                .find(|t| t.id == c.id)
                .map_or(DEFAULT_RAM_PER_VCPU, |t| t.ram_gb_per_vcpu);
            // Whole GB, as the API reports memory.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_precision_loss,
                reason = "small counts"
            )]
            let memory = (c.vcpu_count as f64 * per_vcpu).round() as i64;
            CpuConfig {
                id: c.id,
                vcpu_count: c.vcpu_count,
                memory,
            }
        })
        .collect()
}

fn request_urls(base: &str, id: &str, type_: &EndpointType) -> EndpointRequestUrls {
    match type_ {
        EndpointType::LoadBalancer => {
            // This server's load-balancing gateway (`/lb/{id}`) sits beside its queue API (`/v2`).
            let gateway = base.strip_suffix("/v2").unwrap_or(base);
            let lb = format!("{gateway}/lb/{id}");
            EndpointRequestUrls::LoadBalancing(LoadBalancingRequestUrls {
                health: format!("{lb}/ping"),
                base: lb,
            })
        }
        _ => {
            // The queue routes' templates, the endpoint id filled in and `{job_id}` kept.
            let url = |route: Route| format!("{base}{}", route.path().replace("{endpoint_id}", id));
            EndpointRequestUrls::QueueBased(QueueBasedRequestUrls {
                run: url(Route::Run),
                run_sync: url(Route::RunSync),
                status: url(Route::Status),
                stream: url(Route::Stream),
                cancel: url(Route::Cancel),
                retry: url(Route::Retry),
                purge_queue: url(Route::PurgeQueue),
                health: url(Route::Health),
            })
        }
    }
}

pub(crate) async fn create(
    State(state): State<RestV2State>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Endpoint>), Problem> {
    let req: CreateEndpointRequest = parse_body(&body)?;
    let workers = req.workers.clone().unwrap_or_default();

    let mut v = Violations::default();
    v.non_empty("name", &req.name);
    v.check(!matches!(req.type_, EndpointType::Unknown(_)), || {
        "type: must be QUEUE or LOAD_BALANCER".to_owned()
    });
    check_scaling(&mut v, &req.scaling);
    v.check(req.image.is_some() || req.template_id.is_some(), || {
        "image: required unless templateId is set".to_owned()
    });
    if let Some(image) = &req.image {
        v.non_empty("image", image);
    }
    if let Some(gpu) = &req.gpu {
        v.check(!gpu.pools.is_empty(), || {
            "gpu.pools: must list at least 1 pool".to_owned()
        });
        v.check(gpu.count.is_none_or(|c| c >= 1), || {
            "gpu.count: must be at least 1".to_owned()
        });
        v.cuda_versions(
            "gpu.allowedCudaVersions",
            gpu.allowed_cuda_versions.iter().flatten(),
        );
        v.cuda_versions("gpu.minCudaVersion", gpu.min_cuda_version.iter());
    }
    if let Some(cpus) = &req.cpu {
        check_cpus(&mut v, cpus);
    }
    check_workers(&mut v, workers.min, workers.max, workers.idle_timeout);
    v.check(
        !matches!(req.flashboot, Some(FlashBoot::Unknown(_))),
        || "flashboot: must be OFF, FLASHBOOT or PRIORITY_FLASHBOOT".to_owned(),
    );
    v.check(req.timeout.is_none_or(|t| t >= 1), || {
        "timeout: must be at least 1".to_owned()
    });
    v.into_result()?;

    if req.gpu.is_some() == req.cpu.is_some() {
        return Err(Problem::bad_request("give exactly one of gpu or cpu"));
    }
    let min = workers.min.unwrap_or(0);
    let max = workers.max.unwrap_or(DEFAULT_WORKERS_MAX);
    cross_field_rules(Some(&req.type_), Some(&req.scaling), Some(min), Some(max))?;
    if let Some(gpu) = &req.gpu {
        cuda_rule(
            gpu.allowed_cuda_versions.as_ref(),
            gpu.min_cuda_version.as_ref(),
        )?;
    }

    let template = match &req.template_id {
        Some(id) => {
            let t = templates::find(&state, id)?;
            if !t.serverless {
                return Err(Problem::invalid(vec![format!(
                    "templateId: {id} is not a serverless template"
                )]));
            }
            Some(t)
        }
        None => None,
    };

    // Template settings first, body fields over them; `env` merges per key, the body winning.
    let mut env = template.as_ref().map(|t| t.env.clone()).unwrap_or_default();
    env.extend(req.env.unwrap_or_default());
    let gpu = req.gpu.map(|g| {
        let seeded = match (&g.allowed_cuda_versions, &g.min_cuda_version, &template) {
            (None, None, Some(t)) => t.allowed_cuda_versions.clone(),
            _ => g.allowed_cuda_versions.clone().unwrap_or_default(),
        };
        EndpointGpuConfig {
            count: Some(g.count.unwrap_or(1)),
            excluded_types: g.excluded_types,
            pools: g.pools,
            allowed_cuda_versions: seeded,
            min_cuda_version: g.min_cuda_version,
        }
    });
    let id = new_id();
    let endpoint = Endpoint {
        request_urls: Some(request_urls(&queue_base(&state, &headers), &id, &req.type_)),
        id,
        name: req.name,
        image: req
            .image
            .or_else(|| template.as_ref().map(|t| t.image.clone())),
        args: req
            .args
            .or_else(|| template.as_ref().map(|t| t.args.clone()))
            .or_else(|| Some(String::new())),
        disk: req
            .disk
            .or_else(|| template.as_ref().map(|t| t.disk))
            .or(Some(DEFAULT_DISK)),
        env: Some(env),
        ports: req
            .ports
            .or_else(|| template.as_ref().map(|t| t.ports.clone()))
            .or_else(|| Some(Vec::new())),
        registry: req
            .registry
            .or_else(|| template.as_ref().and_then(|t| t.registry.clone())),
        cpu: req.cpu.map(|c| cpu_configs(&state, c)),
        gpu,
        created_at: state.now(),
        data_center_ids: req.data_center_ids.unwrap_or_default(),
        flashboot: req.flashboot.unwrap_or(FlashBoot::Off),
        network_volumes: req.network_volumes.unwrap_or_default(),
        scaling: req.scaling,
        timeout: req.timeout.unwrap_or(DEFAULT_TIMEOUT_MS),
        type_: Some(req.type_),
        workers: EndpointWorkers {
            min: Some(min),
            max: Some(max),
            idle_timeout: Some(workers.idle_timeout.unwrap_or(DEFAULT_IDLE_TIMEOUT_S)),
        },
    };
    state.account().endpoints.push(endpoint.clone());
    Ok((StatusCode::CREATED, Json(endpoint)))
}

pub(crate) async fn update(
    State(state): State<RestV2State>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Endpoint>, Problem> {
    let req: UpdateEndpointRequest = parse_body(&body)?;
    let mut v = Violations::default();
    if let Some(name) = &req.name {
        v.non_empty("name", name);
    }
    if let Some(scaling) = &req.scaling {
        check_scaling(&mut v, scaling);
    }
    if let Some(w) = &req.workers {
        check_workers(&mut v, w.min, w.max, w.idle_timeout);
    }
    if let Some(cpus) = &req.cpu {
        check_cpus(&mut v, cpus);
    }
    if let Some(gpu) = &req.gpu {
        v.check(gpu.pools.as_ref().is_none_or(|p| !p.is_empty()), || {
            "gpu.pools: must list at least 1 pool".to_owned()
        });
        v.cuda_versions(
            "gpu.allowedCudaVersions",
            gpu.allowed_cuda_versions.iter().flatten(),
        );
    }
    v.into_result()?;
    let template = match &req.template_id {
        Some(tid) => Some(templates::find(&state, tid)?),
        None => None,
    };

    let mut account = state.account();
    let ep = account
        .endpoints
        .iter_mut()
        .find(|e| e.id == id)
        .ok_or_else(|| Problem::not_found("endpoint", &id))?;
    let mut updated = ep.clone();
    if let Some(t) = template {
        updated.image = Some(t.image);
        updated.args = Some(t.args);
        updated.disk = Some(t.disk);
        updated.ports = Some(t.ports);
        let mut env = t.env;
        env.extend(updated.env.take().unwrap_or_default());
        updated.env = Some(env);
    }
    macro_rules! set_some {
        ($($field:ident),*) => {$( if req.$field.is_some() { updated.$field = req.$field; } )*};
    }
    set_some!(image, args, disk, ports, registry);
    if let Some(env) = req.env {
        updated.env = Some(env);
    }
    if let Some(name) = req.name {
        updated.name = name;
    }
    if let Some(scaling) = req.scaling {
        updated.scaling = scaling;
    }
    if let Some(w) = req.workers {
        updated.workers = EndpointWorkers {
            min: w.min.or(updated.workers.min),
            max: w.max.or(updated.workers.max),
            idle_timeout: w.idle_timeout.or(updated.workers.idle_timeout),
        };
    }
    if let Some(t) = req.timeout {
        updated.timeout = t;
    }
    if let Some(f) = req.flashboot {
        updated.flashboot = f;
    }
    if let Some(d) = req.data_center_ids {
        updated.data_center_ids = d;
    }
    if let Some(n) = req.network_volumes {
        updated.network_volumes = n;
    }
    if let Some(cpus) = req.cpu {
        if updated.cpu.is_none() {
            return Err(Problem::bad_request(
                "cpu can only be changed on a CPU endpoint",
            ));
        }
        updated.cpu = Some(cpu_configs(&state, cpus));
    }
    if let Some(g) = req.gpu {
        let Some(current) = updated.gpu.as_mut() else {
            return Err(Problem::bad_request(
                "gpu can only be changed on a GPU endpoint",
            ));
        };
        if let Some(pools) = g.pools {
            // Pools and exclusions are one selection: new pools replace both.
            current.pools = pools;
            current.excluded_types = g.excluded_types;
        } else if g.excluded_types.is_some() {
            return Err(Problem::bad_request("gpu.excludedTypes requires gpu.pools"));
        }
        if let Some(count) = g.count {
            current.count = Some(count);
        }
        if let Some(allowed) = g.allowed_cuda_versions {
            current.allowed_cuda_versions = allowed;
        }
        if g.min_cuda_version.is_some() {
            current.min_cuda_version = g.min_cuda_version;
        }
        cuda_rule(
            Some(&current.allowed_cuda_versions),
            current.min_cuda_version.as_ref(),
        )?;
    }
    cross_field_rules(
        updated.type_.as_ref(),
        Some(&updated.scaling),
        updated.workers.min,
        updated.workers.max,
    )?;
    *ep = updated.clone();
    Ok(Json(updated))
}

pub(crate) async fn delete(
    State(state): State<RestV2State>,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let mut account = state.account();
    let before = account.endpoints.len();
    account.endpoints.retain(|e| e.id != id);
    if account.endpoints.len() == before {
        return Err(Problem::not_found("endpoint", &id));
    }
    Ok(StatusCode::NO_CONTENT)
}
