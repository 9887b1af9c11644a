//! `/v2/catalog/gpus` and `/v2/catalog/cpus`, served from the fixture catalog.

use axum::Json;
use axum::extract::{Path, Query, State};
use runpod_types::rest::{CpuType, GpuType, ListCpuTypesResponse, ListGpuTypesResponse};

use super::problem::Problem;
use super::state::RestV2State;

type Params = Query<Vec<(String, String)>>;

/// Reads `include`: whether `AVAILABILITY` was asked for, checking the filters that need it.
fn availability(params: &[(String, String)], filters: &[&str]) -> Result<bool, Problem> {
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let mut wanted = false;
    for value in get("include").into_iter().flat_map(|v| v.split(',')) {
        match value {
            "AVAILABILITY" => wanted = true,
            other => {
                return Err(Problem::invalid(vec![format!(
                    "include: unknown value {other:?}"
                )]));
            }
        }
    }
    if wanted && get("product").is_none() {
        return Err(Problem::bad_request(
            "product is required with include=AVAILABILITY",
        ));
    }
    if !wanted
        && let Some(f) = filters
            .iter()
            .chain(&["product"])
            .find(|f| get(f).is_some())
    {
        return Err(Problem::bad_request(format!(
            "{f} is valid only with include=AVAILABILITY"
        )));
    }
    if get("cudaVersions").is_some() && get("minCudaVersion").is_some() {
        return Err(Problem::bad_request(
            "cudaVersions and minCudaVersion are mutually exclusive",
        ));
    }
    Ok(wanted)
}

const GPU_FILTERS: &[&str] = &[
    "count",
    "cloud",
    "countryCodes",
    "cudaVersions",
    "minCudaVersion",
];
const CPU_FILTERS: &[&str] = &["vcpuCount"];

/// Without `include=AVAILABILITY` the availability fields are absent, as the API sends them.
fn gpu_view(mut gpu: GpuType, availability: bool) -> GpuType {
    if !availability {
        gpu.availability = None;
        gpu.data_centers = None;
        gpu.cuda_versions = None;
    }
    gpu
}

fn cpu_view(mut cpu: CpuType, availability: bool) -> CpuType {
    if !availability {
        cpu.availability = None;
        cpu.data_centers = None;
    }
    cpu
}

pub(crate) async fn list_gpus(
    State(state): State<RestV2State>,
    Query(q): Params,
) -> Result<Json<ListGpuTypesResponse>, Problem> {
    let with = availability(&q, GPU_FILTERS)?;
    let gpus = state
        .catalog()
        .gpus
        .iter()
        .cloned()
        .map(|g| gpu_view(g, with))
        .collect();
    Ok(Json(ListGpuTypesResponse { gpus }))
}

pub(crate) async fn get_gpu(
    State(state): State<RestV2State>,
    Path(id): Path<String>,
    Query(q): Params,
) -> Result<Json<GpuType>, Problem> {
    let with = availability(&q, GPU_FILTERS)?;
    let gpu = state
        .catalog()
        .gpus
        .iter()
        .find(|g| g.id == id)
        .cloned()
        .ok_or_else(|| Problem::not_found("GPU type", &id))?;
    Ok(Json(gpu_view(gpu, with)))
}

pub(crate) async fn list_cpus(
    State(state): State<RestV2State>,
    Query(q): Params,
) -> Result<Json<ListCpuTypesResponse>, Problem> {
    let with = availability(&q, CPU_FILTERS)?;
    let cpus = state
        .catalog()
        .cpus
        .iter()
        .cloned()
        .map(|c| cpu_view(c, with))
        .collect();
    Ok(Json(ListCpuTypesResponse { cpus }))
}

pub(crate) async fn get_cpu(
    State(state): State<RestV2State>,
    Path(id): Path<String>,
    Query(q): Params,
) -> Result<Json<CpuType>, Problem> {
    let with = availability(&q, CPU_FILTERS)?;
    let cpu = state
        .catalog()
        .cpus
        .iter()
        .find(|c| c.id == id)
        .cloned()
        .ok_or_else(|| Problem::not_found("CPU type", &id))?;
    Ok(Json(cpu_view(cpu, with)))
}
