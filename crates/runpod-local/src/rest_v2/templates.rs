//! `/v2/templates`: your templates.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use runpod_types::rest::{
    CreateTemplateRequest, ListTemplatesResponse, Template, TemplateCategory, UpdateTemplateRequest,
};

use super::problem::Problem;
use super::state::{RestV2State, new_id};
use super::validate::{Violations, parse_body};

/// Container disk when a create does not give one, in GB.
pub(crate) const DEFAULT_DISK: i64 = 20;

pub(crate) async fn list(State(state): State<RestV2State>) -> Json<ListTemplatesResponse> {
    Json(ListTemplatesResponse {
        templates: state.account().templates.clone(),
    })
}

pub(crate) async fn get(
    State(state): State<RestV2State>,
    Path(id): Path<String>,
) -> Result<Json<Template>, Problem> {
    find(&state, &id).map(Json)
}

pub(crate) fn find(state: &RestV2State, id: &str) -> Result<Template, Problem> {
    state
        .account()
        .templates
        .iter()
        .find(|t| t.id == id)
        .cloned()
        .ok_or_else(|| Problem::not_found("template", id))
}

pub(crate) async fn create(
    State(state): State<RestV2State>,
    body: Bytes,
) -> Result<(StatusCode, Json<Template>), Problem> {
    let req: CreateTemplateRequest = parse_body(&body)?;
    let mut v = Violations::default();
    v.non_empty("name", &req.name);
    v.non_empty("image", &req.image);
    v.check(req.disk.is_none_or(|d| d >= 1), || {
        "disk: must be at least 1".to_owned()
    });
    v.cuda_versions(
        "allowedCudaVersions",
        req.allowed_cuda_versions.iter().flatten(),
    );
    v.check(
        !matches!(req.category, Some(TemplateCategory::Unknown(_))),
        || "category: must be CPU, NVIDIA or AMD".to_owned(),
    );
    v.into_result()?;
    let template = Template {
        id: new_id(),
        name: req.name,
        image: req.image,
        args: req.args.unwrap_or_default(),
        disk: req.disk.unwrap_or(DEFAULT_DISK),
        env: req.env.unwrap_or_default(),
        ports: req.ports.unwrap_or_default(),
        registry: req.registry,
        allowed_cuda_versions: req.allowed_cuda_versions.unwrap_or_default(),
        category: req.category.unwrap_or(TemplateCategory::Nvidia),
        mounts: req.mounts.unwrap_or_default(),
        public: req.public.unwrap_or(false),
        serverless: req.serverless.unwrap_or(false),
        // The spec's defaults for both flags are `true` (as console-created templates).
        start_jupyter: req.start_jupyter.unwrap_or(true),
        start_ssh: req.start_ssh.unwrap_or(true),
    };
    state.account().templates.push(template.clone());
    Ok((StatusCode::CREATED, Json(template)))
}

pub(crate) async fn update(
    State(state): State<RestV2State>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Template>, Problem> {
    let req: UpdateTemplateRequest = parse_body(&body)?;
    let mut v = Violations::default();
    if let Some(name) = &req.name {
        v.non_empty("name", name);
    }
    if let Some(image) = &req.image {
        v.non_empty("image", image);
    }
    v.check(req.disk.is_none_or(|d| d >= 1), || {
        "disk: must be at least 1".to_owned()
    });
    v.cuda_versions(
        "allowedCudaVersions",
        req.allowed_cuda_versions.iter().flatten(),
    );
    v.into_result()?;
    let mut account = state.account();
    let t = account
        .templates
        .iter_mut()
        .find(|t| t.id == id)
        .ok_or_else(|| Problem::not_found("template", &id))?;
    macro_rules! set {
        ($($field:ident),*) => {$( if let Some(value) = req.$field { t.$field = value; } )*};
    }
    set!(
        name,
        image,
        args,
        disk,
        env,
        ports,
        allowed_cuda_versions,
        category,
        mounts,
        public,
        serverless,
        start_jupyter,
        start_ssh
    );
    if req.registry.is_some() {
        t.registry = req.registry;
    }
    Ok(Json(t.clone()))
}

pub(crate) async fn delete(
    State(state): State<RestV2State>,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let mut account = state.account();
    let before = account.templates.len();
    account.templates.retain(|t| t.id != id);
    if account.templates.len() == before {
        return Err(Problem::not_found("template", &id));
    }
    Ok(StatusCode::NO_CONTENT)
}
