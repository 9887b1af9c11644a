//! `cargo xtask codegen`, runpod-admin part: the REST v2 spec → one owned request builder per
//! operation, the resource groups that hand them out, the operation table, and JSON fixtures of
//! every success response (from the spec's examples) for the admin tests.
//!
//! Field types come from the same model `runpod-types` is generated from
//! (`codegen::openapi::build`), so a setter always takes exactly what the model field holds.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_yaml::Value;

use crate::codegen::emit::{doc, ty as rust_ty};
use crate::codegen::ir::{Field, Item, Items, StrEnum, Ty};
use crate::codegen::naming::{snake, upper_camel};
use crate::codegen::{Output, format};

/// The REST v2 spec, relative to `schema/`.
pub(crate) const REST_SPEC: &str = "rest/openapi.json";

const OUT_DIR: &str = "crates/runpod-admin/src/generated";
const FIXTURE_DIR: &str = "crates/runpod-admin/tests/fixtures/rest_v2";

/// Resource groups in the order `AdminClient` lists them: (spec tag, accessor, type, doc).
const GROUPS: &[(&str, &str, &str, &str)] = &[
    (
        "Pods",
        "pods",
        "Pods",
        "GPU and CPU pods: lifecycle, actions and log streams.",
    ),
    (
        "Serverless",
        "endpoints",
        "Endpoints",
        "Serverless endpoints: lifecycle, workers, releases and worker log streams.",
    ),
    (
        "Templates",
        "templates",
        "Templates",
        "Your pod and serverless templates.",
    ),
    (
        "Network Volumes",
        "network_volumes",
        "NetworkVolumes",
        "Persistent network storage volumes.",
    ),
    (
        "Clusters",
        "clusters",
        "Clusters",
        "Instant clusters of identical pods.",
    ),
    (
        "Registries",
        "registries",
        "Registries",
        "Container registry credentials and ECR delegations.",
    ),
    (
        "Catalog",
        "catalog",
        "Catalog",
        "GPU types, CPU types, data centers and public templates, with availability filters.",
    ),
    (
        "Billing",
        "billing",
        "Billing",
        "Billing history: aggregated and per product.",
    ),
    (
        "Account",
        "account",
        "Account",
        "Account settings (SSH public keys).",
    ),
];

/// operationId → (method name on its group, builder type name if not the operationId's).
/// Every operation of the spec must be listed: a new one fails codegen until it is named here.
const METHODS: &[(&str, &str, Option<&str>)] = &[
    ("listPods", "list", None),
    ("createPod", "create", None),
    ("getPod", "get", None),
    ("updatePod", "update", None),
    ("deletePod", "delete", None),
    ("podAction", "action", Some("ApplyPodAction")),
    ("getPodLogs", "logs", None),
    ("listEndpoints", "list", None),
    ("createEndpoint", "create", None),
    ("getEndpoint", "get", None),
    ("updateEndpoint", "update", None),
    ("deleteEndpoint", "delete", None),
    ("listEndpointWorkers", "workers", None),
    ("listEndpointReleases", "releases", None),
    ("getWorkerLogs", "worker_logs", None),
    ("listTemplates", "list", None),
    ("createTemplate", "create", None),
    ("getTemplate", "get", None),
    ("updateTemplate", "update", None),
    ("deleteTemplate", "delete", None),
    ("listNetworkVolumes", "list", None),
    ("createNetworkVolume", "create", None),
    ("getNetworkVolume", "get", None),
    ("updateNetworkVolume", "update", None),
    ("deleteNetworkVolume", "delete", None),
    ("listClusters", "list", None),
    ("createCluster", "create", None),
    ("getCluster", "get", None),
    ("updateCluster", "update", None),
    ("deleteCluster", "delete", None),
    ("listClusterPods", "pods", None),
    ("listRegistries", "list", None),
    ("createRegistry", "create", None),
    ("getRegistry", "get", None),
    ("deleteRegistry", "delete", None),
    ("listDelegations", "delegations", None),
    ("createDelegation", "create_delegation", None),
    ("revokeDelegation", "revoke_delegation", None),
    ("listGpuTypes", "gpus", None),
    ("getGpuType", "gpu", None),
    ("listCpuTypes", "cpus", None),
    ("getCpuType", "cpu", None),
    ("listDataCenters", "data_centers", None),
    ("getDataCenter", "data_center", None),
    ("listPublicTemplates", "templates", None),
    ("listBilling", "aggregated", None),
    ("listPodBilling", "pods", None),
    ("listServerlessBilling", "serverless", None),
    ("listEndpointBilling", "public_endpoints", None),
    ("listNetworkVolumeBilling", "network_volumes", None),
    ("listClusterBilling", "clusters", None),
    ("getSshKeys", "ssh_keys", None),
    ("updateSshKeys", "update_ssh_keys", None),
];

/// operationId → (a hand-written `fn(&Body) -> Result<()>` that the builder's `send` runs first,
/// what it refuses, for `send`'s docs),
/// so a body Runpod would refuse for a reason we can see in it alone fails as
/// `is_invalid_input()` before anything is sent, however the body was built (`create`,
/// `create_from`, `set_body`). The check lives beside the feature it belongs to; the
/// generator only calls it. `updateEndpoint` has none: a PATCH cannot change `type`, and
/// whether its `scaling` fits depends on the endpoint's type, which the body does not hold.
const BODY_CHECKS: &[(&str, &str, &str)] = &[(
    "createEndpoint",
    "crate::load_balancing::check_create_endpoint",
    "a `LOAD_BALANCER`\n    /// endpoint without `REQUEST_COUNT` scaling (see [`crate::check_endpoint_kind`])",
)];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    Path,
    Query,
    Header,
}

#[derive(Debug, Clone)]
struct Param {
    wire: String,
    ident: String,
    location: Location,
    required: bool,
    doc: Option<String>,
    /// Item type; `array` says the parameter is a list of it.
    ty: Ty,
    array: bool,
    /// `style: form, explode: true` (repeat the key) rather than comma-joined.
    explode: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Success {
    /// A JSON body of this schema.
    Json(String),
    /// `204 No Content` only.
    Empty,
    /// Either a JSON body or `204`.
    JsonOrEmpty(String),
    /// `text/event-stream`.
    EventStream,
}

#[derive(Debug, Clone)]
struct Op {
    id: String,
    method: String,
    path: String,
    tag: String,
    summary: Option<String>,
    description: Option<String>,
    params: Vec<Param>,
    body: Option<String>,
    /// The body's fields (filled from the model once it is built).
    body_fields: Vec<Field>,
    /// The body keeps unknown keys in an `extra` map.
    body_has_extra: bool,
    success: Success,
    /// The first example of the success response, if the spec has one.
    example: Option<Value>,
    builder: String,
    group_method: String,
}

fn s<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn ref_name(v: &Value) -> Option<&str> {
    s(v, "$ref").map(|r| r.rsplit('/').next().unwrap_or(r))
}

/// Follows a `#/components/<kind>/<name>` reference.
fn deref<'v>(spec: &'v Value, v: &'v Value) -> Result<&'v Value> {
    let Some(r) = s(v, "$ref") else { return Ok(v) };
    let mut cur = spec;
    for part in r.trim_start_matches("#/").split('/') {
        cur = cur
            .get(part)
            .with_context(|| format!("unresolved $ref {r}"))?;
    }
    Ok(cur)
}

/// The type of a parameter's schema (or of its array items), named types included.
fn param_ty(schema: &Value, inline_enum_name: &str, extra: &mut Items) -> Result<Ty> {
    if let Some(name) = ref_name(schema) {
        return Ok(Ty::Named(format!("rest::{name}")));
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_sequence) {
        let variants = values
            .iter()
            .map(|v| {
                let wire = v
                    .as_str()
                    .context("a non-string enum value in a parameter")?;
                Ok((wire.to_owned(), upper_camel(wire)))
            })
            .collect::<Result<Vec<_>>>()?;
        extra.insert(
            inline_enum_name.to_owned(),
            Item::Enum(StrEnum {
                name: inline_enum_name.to_owned(),
                doc: Some(format!(
                    "Values of the `{inline_enum_name}` query parameter."
                )),
                variants,
            }),
        );
        return Ok(Ty::Named(inline_enum_name.to_owned()));
    }
    Ok(match s(schema, "type") {
        Some("string") => Ty::String,
        Some("integer") => Ty::I64,
        Some("number") => Ty::F64,
        Some("boolean") => Ty::Bool,
        other => bail!("unsupported parameter type {other:?}"),
    })
}

fn parse_ops(spec: &Value, extra: &mut Items) -> Result<Vec<Op>> {
    let paths = spec
        .get("paths")
        .and_then(Value::as_mapping)
        .context("the spec has no paths")?;
    let mut ops = Vec::new();
    for (path, item) in paths {
        let path = path.as_str().context("a path is not a string")?;
        let shared: Vec<Value> = item
            .get("parameters")
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default();
        for method in ["get", "put", "post", "patch", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let id = s(op, "operationId")
                .with_context(|| format!("{method} {path} has no operationId"))?;
            let (_, group_method, builder) = METHODS
                .iter()
                .find(|(op_id, ..)| *op_id == id)
                .with_context(|| {
                    format!("operation {id} is not named in admin_codegen::METHODS")
                })?;
            let builder = builder.map_or_else(|| upper_camel(id), str::to_owned);
            let tag = op
                .get("tags")
                .and_then(|t| t.get(0))
                .and_then(Value::as_str)
                .with_context(|| format!("{id} has no tag"))?;
            if !GROUPS.iter().any(|(t, ..)| *t == tag) {
                bail!("{id}: tag {tag} is not a group in admin_codegen::GROUPS");
            }
            let mut params = Vec::new();
            let own: Vec<Value> = op
                .get("parameters")
                .and_then(Value::as_sequence)
                .cloned()
                .unwrap_or_default();
            for p in own.iter().chain(shared.iter()) {
                let p = deref(spec, p)?;
                let wire = s(p, "name").context("a parameter without a name")?;
                if params.iter().any(|x: &Param| x.wire == wire) {
                    continue; // an operation's own parameter overrides the path's
                }
                let location = match s(p, "in") {
                    Some("path") => Location::Path,
                    Some("query") => Location::Query,
                    Some("header") => Location::Header,
                    other => bail!("{id}: parameter {wire} in {other:?} is not supported"),
                };
                // Not dereferenced: a `$ref` names the model type the parameter takes.
                let schema = p.get("schema").context("a parameter without a schema")?;
                let inline_name = format!(
                    "{}{}",
                    upper_camel(id.trim_start_matches("list")),
                    upper_camel(wire)
                );
                let (ty, array) = if s(schema, "type") == Some("array") {
                    let items = schema
                        .get("items")
                        .context("array parameter without items")?;
                    (param_ty(items, &inline_name, extra)?, true)
                } else {
                    (param_ty(schema, &inline_name, extra)?, false)
                };
                let style = s(p, "style").unwrap_or("form");
                if location == Location::Query && style != "form" {
                    bail!("{id}: query parameter {wire} has style {style}");
                }
                // OpenAPI: `explode` defaults to true for style form.
                let explode = p.get("explode").and_then(Value::as_bool).unwrap_or(true);
                let mut ident = snake(wire);
                if matches!(ident.as_str(), "client" | "options" | "body") {
                    ident.push('_');
                }
                params.push(Param {
                    wire: wire.to_owned(),
                    ident,
                    location,
                    required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
                    doc: s(p, "description").map(str::to_owned),
                    ty,
                    array,
                    explode,
                });
            }
            // Path parameters in the order the path names them.
            let order: Vec<&str> = path
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{').and_then(|x| x.strip_suffix('}')))
                .collect();
            params.sort_by_key(|p| match p.location {
                Location::Path => order.iter().position(|n| *n == p.wire).unwrap_or(0),
                _ => usize::MAX,
            });
            let body = match op.get("requestBody") {
                None => None,
                Some(rb) => {
                    let rb = deref(spec, rb)?;
                    let schema = rb
                        .get("content")
                        .and_then(|c| c.get("application/json"))
                        .and_then(|c| c.get("schema"))
                        .with_context(|| format!("{id}: request body is not application/json"))?;
                    Some(
                        ref_name(schema)
                            .with_context(|| format!("{id}: inline request body"))?
                            .to_owned(),
                    )
                }
            };
            let (success, example) = success_of(spec, id, op)?;
            ops.push(Op {
                id: id.to_owned(),
                method: method.to_ascii_uppercase(),
                path: path.to_owned(),
                tag: tag.to_owned(),
                summary: s(op, "summary").map(str::to_owned),
                description: s(op, "description").map(str::to_owned),
                params,
                body,
                body_fields: Vec::new(),
                body_has_extra: false,
                success,
                example,
                builder,
                group_method: (*group_method).to_owned(),
            });
        }
    }
    for (id, ..) in METHODS {
        if !ops.iter().any(|o| o.id == *id) {
            bail!("admin_codegen::METHODS names {id}, which the spec does not have");
        }
    }
    // Group order, then the order of METHODS: stable whatever order the spec lists paths in.
    let rank = |o: &Op| {
        (
            GROUPS
                .iter()
                .position(|(t, ..)| *t == o.tag)
                .unwrap_or(usize::MAX),
            METHODS
                .iter()
                .position(|(id, ..)| *id == o.id)
                .unwrap_or(usize::MAX),
        )
    };
    ops.sort_by_key(rank);
    Ok(ops)
}

fn success_of(spec: &Value, id: &str, op: &Value) -> Result<(Success, Option<Value>)> {
    let responses = op
        .get("responses")
        .and_then(Value::as_mapping)
        .context("no responses")?;
    let mut json: Option<(String, Option<Value>)> = None;
    let mut empty = false;
    let mut sse = false;
    for (code, r) in responses {
        let code = match code {
            Value::String(c) => c.clone(),
            Value::Number(n) => n.to_string(),
            _ => continue,
        };
        if !code.starts_with('2') {
            continue;
        }
        let r = deref(spec, r)?;
        match r.get("content").and_then(Value::as_mapping) {
            None => empty = true,
            Some(content) if content.is_empty() => empty = true,
            Some(content) => {
                if let Some(c) = content.get("application/json") {
                    let schema = c.get("schema").context("json response without schema")?;
                    let name = ref_name(schema)
                        .with_context(|| format!("{id}: inline response schema"))?
                        .to_owned();
                    let example = c
                        .get("examples")
                        .and_then(Value::as_mapping)
                        .and_then(|m| m.values().next())
                        .and_then(|e| e.get("value"))
                        .or_else(|| c.get("example"))
                        .cloned();
                    json = Some((name, example));
                } else if content.get("text/event-stream").is_some() {
                    sse = true;
                } else {
                    bail!("{id}: unsupported response content");
                }
            }
        }
    }
    Ok(match (json, empty, sse) {
        (Some((name, ex)), false, false) => (Success::Json(name), ex),
        (Some((name, ex)), true, false) => (Success::JsonOrEmpty(name), ex),
        (None, true, false) => (Success::Empty, None),
        (None, false, true) => (Success::EventStream, None),
        _ => bail!("{id}: unsupported combination of success responses"),
    })
}

/// How a setter takes a value of `t`, and how it turns that into the field's type.
fn setter_arg(t: &Ty, model: &str) -> (String, String) {
    match t {
        Ty::String => ("impl Into<String>".to_owned(), "value.into()".to_owned()),
        Ty::I32 | Ty::I64 | Ty::F64 | Ty::Bool => (rust_ty(t), "value".to_owned()),
        Ty::Named(n) => (
            format!("impl Into<{}>", qualified(n, model)),
            "value.into()".to_owned(),
        ),
        Ty::Vec(inner) => match inner.as_ref() {
            Ty::String | Ty::Named(_) | Ty::Value => (
                format!(
                    "impl IntoIterator<Item = impl Into<{}>>",
                    qualified_ty(inner, model)
                ),
                "value.into_iter().map(Into::into).collect()".to_owned(),
            ),
            other => (
                format!("impl IntoIterator<Item = {}>", qualified_ty(other, model)),
                "value.into_iter().collect()".to_owned(),
            ),
        },
        Ty::Map(inner) => (
            format!(
                "impl IntoIterator<Item = (impl Into<String>, impl Into<{}>)>",
                qualified_ty(inner, model)
            ),
            "value.into_iter().map(|(k, v)| (k.into(), v.into())).collect()".to_owned(),
        ),
        Ty::Value => (
            "impl Into<serde_json::Value>".to_owned(),
            "value.into()".to_owned(),
        ),
        Ty::Object => (
            "serde_json::Map<String, serde_json::Value>".to_owned(),
            "value".to_owned(),
        ),
    }
}

/// A conversion written for a variable named `value`, applied to `ident` instead.
fn apply(conv: &str, ident: &str) -> String {
    format!("{ident}{}", conv.strip_prefix("value").unwrap_or(conv))
}

/// A struct-literal field initialised from the argument of the same name.
fn init(ident: &str, conv: &str) -> String {
    if conv == "value" {
        ident.to_owned()
    } else {
        format!("{ident}: {}", apply(conv, ident))
    }
}

/// A model type name as the generated admin code spells it.
fn qualified(name: &str, model: &str) -> String {
    if name.contains("::") || model.is_empty() {
        name.to_owned()
    } else {
        format!("{model}::{name}")
    }
}

fn qualified_ty(t: &Ty, model: &str) -> String {
    match t {
        Ty::Named(n) => qualified(n, model),
        Ty::Vec(inner) => format!("Vec<{}>", qualified_ty(inner, model)),
        Ty::Map(inner) => format!(
            "std::collections::BTreeMap<String, {}>",
            qualified_ty(inner, model)
        ),
        other => rust_ty(other),
    }
}

fn builder_doc(op: &Op) -> String {
    let mut text = String::new();
    let summary = op.summary.clone().unwrap_or_else(|| op.id.clone());
    let _ = writeln!(text, "{}.", summary.trim_end_matches('.'));
    let _ = writeln!(text);
    let _ = writeln!(text, "`{} {}` (operation `{}`).", op.method, op.path, op.id);
    if let Some(d) = &op.description {
        let _ = writeln!(text);
        text.push_str(d.trim());
        text.push('\n');
    }
    doc(Some(&text), "")
}

/// A body field whose value must never reach logs.
fn is_secret(f: &Field) -> bool {
    let wire = f.wire.to_ascii_lowercase();
    ["password", "secret", "token"]
        .iter()
        .any(|s| wire.contains(s))
}

/// A body field the caller must give (a constructor argument).
fn is_required(f: &Field) -> bool {
    f.required && !f.nullable
}

struct Gen {
    code: String,
}

impl Gen {
    fn op(&mut self, op: &Op) -> Result<()> {
        let b = &op.builder;
        let body_fields = &op.body_fields;
        // Required parameters and required body fields become constructor arguments.
        let mut ctor_args: Vec<String> = Vec::new();
        let mut ctor_inits: Vec<String> = Vec::new();
        let mut body_inits: Vec<String> = Vec::new();

        let out = &mut self.code;
        out.push_str(&builder_doc(op));
        // A body with a secret (a registry password) gets a Debug that never prints it.
        let secret = body_fields.iter().any(is_secret);
        out.push_str(if secret {
            "#[derive(Clone)]\n"
        } else {
            "#[derive(Debug, Clone)]\n"
        });
        out.push_str("#[must_use = \"a request does nothing until it is sent\"]\n");
        let _ = writeln!(out, "pub struct {b} {{");
        out.push_str("    pub(crate) client: AdminClient,\n");
        for p in &op.params {
            let t = param_field_ty(p);
            let _ = writeln!(out, "    pub(crate) {}: {t},", p.ident);
        }
        if let Some(schema) = &op.body {
            let _ = writeln!(out, "    pub(crate) body: rest::{schema},");
        }
        out.push_str("    pub(crate) options: CallOptions,\n}\n\n");
        if secret {
            let _ = writeln!(out, "impl std::fmt::Debug for {b} {{");
            out.push_str(
                "    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {\n",
            );
            let _ = writeln!(
                out,
                "        f.debug_struct({b:?})\n            .field(\"client\", &self.client)"
            );
            for p in &op.params {
                let _ = writeln!(out, "            .field({:?}, &self.{})", p.ident, p.ident);
            }
            for f in body_fields {
                if is_secret(f) {
                    let _ = writeln!(out, "            .field({:?}, &\"[redacted]\")", f.ident);
                } else {
                    let _ = writeln!(
                        out,
                        "            .field({:?}, &self.body.{})",
                        f.ident, f.ident
                    );
                }
            }
            out.push_str("            .field(\"options\", &self.options)\n            .finish()\n    }\n}\n\n");
        }

        for p in &op.params {
            if p.required {
                let (arg, conv) = setter_arg(&p.ty, "");
                ctor_args.push(format!("{}: {arg}", p.ident));
                ctor_inits.push(init(&p.ident, &conv));
            } else if p.array {
                ctor_inits.push(format!("{}: Vec::new()", p.ident));
            } else {
                ctor_inits.push(format!("{}: None", p.ident));
            }
        }
        for f in body_fields {
            if is_required(f) {
                let (arg, conv) = setter_arg(&f.ty, "rest");
                ctor_args.push(format!("{}: {arg}", f.ident));
                body_inits.push(init(&f.ident, &conv));
            }
        }

        let _ = writeln!(out, "impl {b} {{");
        let _ = writeln!(
            out,
            "    pub(crate) fn new(client: AdminClient{}) -> Self {{",
            ctor_args
                .iter()
                .map(|a| format!(", {a}"))
                .collect::<String>()
        );
        let _ = writeln!(out, "        Self {{ client,");
        for i in &ctor_inits {
            let _ = writeln!(out, "            {i},");
        }
        if let Some(schema) = &op.body {
            // `..Default::default()` only when some field is left to it (clippy::needless_update).
            let complete = body_fields.iter().all(is_required) && !op.body_has_extra;
            let _ = writeln!(
                out,
                "            body: rest::{schema} {{ {}{} }},",
                body_inits
                    .iter()
                    .map(|i| format!("{i}, "))
                    .collect::<String>(),
                if complete { "" } else { "..Default::default()" }
            );
        }
        out.push_str("            options: CallOptions::default() }\n    }\n\n");

        // A body that has required fields can also be given whole (`create_from(body)`), so a
        // caller holding a complete request never passes placeholders that the body replaces.
        if let Some(schema) = op
            .body
            .as_ref()
            .filter(|_| body_fields.iter().any(is_required))
        {
            let params = &ctor_args[..ctor_args.len() - body_inits.len()];
            let _ = writeln!(
                out,
                "    pub(crate) fn from_body(client: AdminClient{}, body: rest::{schema}) -> Self {{",
                params.iter().map(|a| format!(", {a}")).collect::<String>()
            );
            let _ = writeln!(out, "        Self {{ client,");
            for i in &ctor_inits {
                let _ = writeln!(out, "            {i},");
            }
            out.push_str("            body, options: CallOptions::default() }\n    }\n\n");
        }

        // Setters for optional parameters.
        for p in op.params.iter().filter(|p| !p.required) {
            let param_doc = p
                .doc
                .clone()
                .unwrap_or_else(|| format!("The `{}` parameter.", p.wire));
            let kind = match p.location {
                Location::Query => "query parameter",
                Location::Header => "header",
                Location::Path => "path parameter",
            };
            let text = format!("{}\n\n(`{}` {kind})", param_doc.trim(), p.wire);
            out.push_str(&doc(Some(&text), "    "));
            if p.array {
                let (arg, conv) = setter_arg(&Ty::Vec(Box::new(p.ty.clone())), "");
                let _ = writeln!(
                    out,
                    "    pub fn {}(mut self, value: {arg}) -> Self {{\n        self.{} = {conv};\n        self\n    }}\n",
                    p.ident, p.ident
                );
            } else {
                let (arg, conv) = setter_arg(&p.ty, "");
                let _ = writeln!(
                    out,
                    "    pub fn {}(mut self, value: {arg}) -> Self {{\n        self.{} = Some({conv});\n        self\n    }}\n",
                    p.ident, p.ident
                );
            }
        }

        // Setters for optional body fields.
        if let Some(schema) = &op.body {
            for f in body_fields.iter().filter(|f| !is_required(f)) {
                let field_doc = f
                    .doc
                    .clone()
                    .unwrap_or_else(|| format!("The `{}` field of the body.", f.wire));
                out.push_str(&doc(Some(field_doc.trim()), "    "));
                let (arg, conv) = setter_arg(&f.ty, "rest");
                let mut name = f.ident.clone();
                if matches!(name.as_str(), "body" | "send" | "new") || name.starts_with("with_") {
                    name.push('_');
                }
                let _ = writeln!(
                    out,
                    "    pub fn {name}(mut self, value: {arg}) -> Self {{\n        self.body.{} = Some({conv});\n        self\n    }}\n",
                    f.ident
                );
            }
            let _ = writeln!(
                out,
                "    /// The request body as it stands.\n    pub fn body(&self) -> &rest::{schema} {{\n        &self.body\n    }}\n"
            );
            let _ = writeln!(
                out,
                "    /// Replaces the whole request body (required fields included).\n    pub fn set_body(mut self, body: rest::{schema}) -> Self {{\n        self.body = body;\n        self\n    }}\n"
            );
        }

        out.push_str(CALL_OPTION_SETTERS);

        // The request itself.
        let method = &op.method;
        let _ = writeln!(
            out,
            "    /// The HTTP request this builder describes.\n    pub(crate) fn into_request(self) -> RequestBuilder {{"
        );
        let mut segs = Vec::new();
        for seg in op.path.trim_start_matches('/').split('/') {
            match seg.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
                Some(name) => {
                    let p = op
                        .params
                        .iter()
                        .find(|p| p.wire == name && p.location == Location::Path)
                        .with_context(|| {
                            format!("{}: path names {name}, not a parameter", op.id)
                        })?;
                    segs.push(format!("PathSegment::Param(&self.{})", p.ident));
                }
                None => segs.push(format!("PathSegment::Literal({seg:?})")),
            }
        }
        let adds = op.body.is_some() || op.params.iter().any(|p| p.location != Location::Path);
        let _ = writeln!(
            out,
            "        let {}request = self.client.request(Method::{method}, &[{}]);",
            if adds { "mut " } else { "" },
            segs.join(", ")
        );
        for p in &op.params {
            match p.location {
                Location::Path => {}
                Location::Query => {
                    if p.array {
                        if p.explode {
                            let _ = writeln!(
                                out,
                                "        for value in &self.{} {{ request = request.query({:?}, value); }}",
                                p.ident, p.wire
                            );
                        } else {
                            let _ = writeln!(
                                out,
                                "        if !self.{0}.is_empty() {{ request = request.query({1:?}, join_csv(&self.{0})); }}",
                                p.ident, p.wire
                            );
                        }
                    } else if p.required {
                        let _ = writeln!(
                            out,
                            "        request = request.query({:?}, &self.{});",
                            p.wire, p.ident
                        );
                    } else {
                        let _ = writeln!(
                            out,
                            "        if let Some(value) = &self.{} {{ request = request.query({:?}, value); }}",
                            p.ident, p.wire
                        );
                    }
                }
                Location::Header => {
                    if p.array || !matches!(p.ty, Ty::String) {
                        bail!("{}: header {} is not a plain string", op.id, p.wire);
                    }
                    let _ = writeln!(
                        out,
                        "        if let Some(value) = &self.{} {{ request = request.header({:?}, value.clone()); }}",
                        p.ident, p.wire
                    );
                }
            }
        }
        if op.body.is_some() {
            out.push_str("        request = request.json(&self.body);\n");
        }
        out.push_str("        self.options.apply(request)\n    }\n\n");

        let check = BODY_CHECKS
            .iter()
            .find(|(id, ..)| *id == op.id)
            .map(|c| (c.1, c.2));
        let mut send_doc = String::from(
            "    /// Sends the request.\n    ///\n    /// # Errors\n    ///\n    /// Any transport error, or the API's answer when it is not a success (see\n    /// [`runpod_transport::Error`]'s predicates and [`crate::errors`]).\n",
        );
        // The check, as the first statement of `send`.
        let first = match check {
            Some((path, refused)) => {
                let _ = writeln!(
                    send_doc,
                    "    ///\n    /// `is_invalid_input()`, before anything is sent, for {refused}."
                );
                format!("\n        {path}(&self.body)?;")
            }
            None => String::new(),
        };
        let send_doc = send_doc.as_str();
        match &op.success {
            Success::Json(name) => {
                out.push_str(send_doc);
                let _ = writeln!(
                    out,
                    "    pub async fn send(self) -> Result<rest::{name}> {{{first}\n        self.into_request().send_json().await\n    }}"
                );
            }
            Success::Empty => {
                out.push_str(send_doc);
                let _ = writeln!(
                    out,
                    "    pub async fn send(self) -> Result<()> {{{first}\n        self.into_request().send().await.map(drop)\n    }}"
                );
            }
            Success::JsonOrEmpty(name) => {
                out.push_str(send_doc);
                out.push_str("    ///\n    /// `None` when the API answers `204 No Content`.\n");
                let _ = writeln!(
                    out,
                    "    pub async fn send(self) -> Result<Option<rest::{name}>> {{{first}\n        let response = self.into_request().send().await?;\n        if response.status() == StatusCode::NO_CONTENT || response.bytes().is_empty() {{\n            return Ok(None);\n        }}\n        response.json().map(Some)\n    }}"
                );
            }
            Success::EventStream => {
                // `stream()` is hand-written in `crate::logs`.
                if check.is_some() {
                    bail!("{}: a body check on a log stream is not supported", op.id);
                }
            }
        }
        out.push_str("}\n\n");
        Ok(())
    }
}

const CALL_OPTION_SETTERS: &str =
    "    /// Uses this retry policy for this call instead of the client's.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.options.retry = Some(policy);
        self
    }

    /// Bounds each attempt of this call (`None`: no per-attempt bound).
    pub fn with_attempt_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options.attempt_timeout = Some(timeout);
        self
    }

    /// Bounds the whole call, retries included (`None`: no overall bound).
    pub fn with_operation_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options.operation_timeout = Some(timeout);
        self
    }

";

fn param_field_ty(p: &Param) -> String {
    let t = qualified_ty(&p.ty, "");
    if p.array {
        format!("Vec<{t}>")
    } else if p.required {
        t
    } else {
        format!("Option<{t}>")
    }
}

fn operations_rs(ops: &[Op], extra: &Items) -> Result<String> {
    let mut g = Gen {
        code: String::new(),
    };
    g.code.push_str(
        "//! One owned request builder per REST v2 operation.\n\n\
         use std::time::Duration;\n\n\
         use runpod_transport::{Method, RequestBuilder, RetryPolicy, StatusCode};\n\
         use runpod_types::rest;\n\n\
         use crate::request::{CallOptions, PathSegment, join_csv};\n\
         use crate::{AdminClient, Result};\n\n",
    );
    g.code.push_str(&crate::codegen::emit::items(extra));
    for op in ops {
        g.op(op)?;
    }
    Ok(g.code)
}

fn groups_rs(ops: &[Op]) -> Result<String> {
    let mut out = String::from(
        "//! The resource groups `AdminClient` hands out, one per tag of the spec.\n\n\
         use runpod_types::rest;\n\n\
         use crate::AdminClient;\n\
         use super::operations::*;\n\n",
    );
    out.push_str("impl AdminClient {\n");
    for (tag, accessor, ty, group_doc) in GROUPS {
        if !ops.iter().any(|o| o.tag == *tag) {
            continue;
        }
        let _ = writeln!(
            out,
            "    /// {group_doc}\n    pub fn {accessor}(&self) -> {ty} {{\n        {ty} {{ client: self.clone() }}\n    }}\n"
        );
    }
    out.push_str("}\n\n");
    for (tag, _, ty, group_doc) in GROUPS {
        let group_ops: Vec<&Op> = ops.iter().filter(|o| o.tag == *tag).collect();
        if group_ops.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "/// {group_doc}\n///\n/// From [`AdminClient::{}`]; cheap to clone.\n#[derive(Debug, Clone)]\npub struct {ty} {{\n    pub(crate) client: AdminClient,\n}}\n",
            GROUPS.iter().find(|g| g.0 == *tag).map_or("", |g| g.1)
        );
        let _ = writeln!(out, "impl {ty} {{");
        for op in group_ops {
            let mut args = Vec::new();
            let mut pass = Vec::new();
            for p in op.params.iter().filter(|p| p.required) {
                let (arg, _) = setter_arg(&p.ty, "");
                args.push(format!("{}: {arg}", p.ident));
                pass.push(p.ident.clone());
            }
            let (params, params_pass) = (args.clone(), pass.clone());
            for f in op.body_fields.iter().filter(|f| is_required(f)) {
                args.push(format!("{}: {}", f.ident, setter_arg(&f.ty, "rest").0));
                pass.push(f.ident.clone());
            }
            let summary = op.summary.clone().unwrap_or_else(|| op.id.clone());
            let _ = writeln!(
                out,
                "    /// {}: `{} {}`. See [`{}`].\n    pub fn {}(&self{}) -> {} {{\n        {}::new(self.client.clone(){})\n    }}\n",
                summary.trim_end_matches('.'),
                op.method,
                op.path,
                op.builder,
                op.group_method,
                args.iter().map(|a| format!(", {a}")).collect::<String>(),
                op.builder,
                op.builder,
                pass.iter().map(|a| format!(", {a}")).collect::<String>(),
            );
            if let Some(schema) = op
                .body
                .as_ref()
                .filter(|_| op.body_fields.iter().any(is_required))
            {
                let _ = writeln!(
                    out,
                    "    /// {}, from a whole request body: `{} {}`. See [`{}`].\n    pub fn {}_from(&self{}, body: rest::{schema}) -> {} {{\n        {}::from_body(self.client.clone(){}, body)\n    }}\n",
                    summary.trim_end_matches('.'),
                    op.method,
                    op.path,
                    op.builder,
                    op.group_method,
                    params.iter().map(|a| format!(", {a}")).collect::<String>(),
                    op.builder,
                    op.builder,
                    params_pass
                        .iter()
                        .map(|a| format!(", {a}"))
                        .collect::<String>(),
                );
            }
        }
        out.push_str("}\n\n");
    }
    Ok(out)
}

fn table_rs(ops: &[Op]) -> String {
    let mut out = String::from(
        "//! Every REST v2 operation and where `AdminClient` offers it.\n\n\
         /// One REST v2 operation and the builder that sends it.\n\
         #[derive(Debug, Clone, Copy, PartialEq, Eq)]\n\
         #[non_exhaustive]\n\
         pub struct OperationBuilder {\n\
             /// The spec's `operationId`.\n    pub operation_id: &'static str,\n\
             /// HTTP method.\n    pub method: &'static str,\n\
             /// Path template, as the spec writes it.\n    pub path: &'static str,\n\
             /// How to reach it, e.g. `pods().create`.\n    pub call: &'static str,\n\
             /// The builder type.\n    pub builder: &'static str,\n\
         }\n\n\
         /// Every operation of the REST v2 spec, in the order `AdminClient` documents them.\n\
         pub const OPERATION_BUILDERS: &[OperationBuilder] = &[\n",
    );
    for op in ops {
        let accessor = GROUPS.iter().find(|g| g.0 == op.tag).map_or("", |g| g.1);
        let _ = writeln!(
            out,
            "    OperationBuilder {{ operation_id: {:?}, method: {:?}, path: {:?}, call: \"{}().{}\", builder: {:?} }},",
            op.id, op.method, op.path, accessor, op.group_method, op.builder
        );
    }
    out.push_str("];\n");
    out
}

/// An example for `schema` made from the `examples`/`example`/`default` its properties carry,
/// for operations whose response has no example of its own.
fn synthesize(spec: &Value, schema: &Value, depth: usize) -> Result<serde_json::Value> {
    use serde_json::Value as J;
    if depth > 12 {
        return Ok(J::Null);
    }
    let schema = deref(spec, schema)?;
    for key in ["example", "default"] {
        if let Some(v) = schema.get(key) {
            return Ok(serde_json::to_value(v)?);
        }
    }
    if let Some(v) = schema.get("examples").and_then(|e| e.get(0)) {
        return Ok(serde_json::to_value(v)?);
    }
    if let Some(values) = schema.get("enum").and_then(|e| e.get(0)) {
        return Ok(serde_json::to_value(values)?);
    }
    if let Some(first) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(|l| l.get(0))
    {
        return synthesize(spec, first, depth + 1);
    }
    let mut obj = serde_json::Map::new();
    let mut is_object = false;
    if let Some(parts) = schema.get("allOf").and_then(Value::as_sequence) {
        for part in parts {
            if let J::Object(m) = synthesize(spec, part, depth + 1)? {
                is_object = true;
                obj.extend(m);
            }
        }
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_mapping) {
        is_object = true;
        for (k, pv) in props {
            let k = k.as_str().context("property name")?;
            obj.insert(k.to_owned(), synthesize(spec, pv, depth + 1)?);
        }
    }
    if is_object {
        return Ok(J::Object(obj));
    }
    let t = match schema.get("type") {
        Some(Value::Sequence(list)) => list.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        Some(Value::String(t)) => Some(t.as_str()),
        _ => None,
    };
    Ok(match t {
        Some("string") => J::String("string".to_owned()),
        Some("integer") => J::from(1),
        Some("number") => J::from(1.5),
        Some("boolean") => J::Bool(true),
        Some("array") => match schema.get("items") {
            Some(items) => J::Array(vec![synthesize(spec, items, depth + 1)?]),
            None => J::Array(Vec::new()),
        },
        Some("object") => J::Object(serde_json::Map::new()),
        _ => J::Null,
    })
}

fn fixtures(spec: &Value, ops: &[Op]) -> Result<Vec<Output>> {
    let mut out = Vec::new();
    for op in ops {
        let name = match &op.success {
            Success::Json(n) | Success::JsonOrEmpty(n) => n,
            _ => continue,
        };
        let value = match &op.example {
            Some(v) => serde_json::to_value(v)?,
            None => {
                let schema = spec
                    .get("components")
                    .and_then(|c| c.get("schemas"))
                    .and_then(|c| c.get(name.as_str()))
                    .with_context(|| format!("no schema {name}"))?;
                synthesize(spec, schema, 0)?
            }
        };
        let mut text = serde_json::to_string_pretty(&value)?;
        text.push('\n');
        out.push(Output {
            path: Path::new(FIXTURE_DIR).join(format!("{}.json", op.id)),
            contents: text,
        });
    }
    Ok(out)
}

/// The `required` lists of a schema and everything it `allOf`s, merged in order.
fn required_order(spec: &Value, schema: &str, depth: usize) -> Result<Vec<String>> {
    fn walk(spec: &Value, v: &Value, out: &mut Vec<String>, depth: usize) -> Result<()> {
        if depth > 16 {
            bail!("allOf nests too deep");
        }
        if s(v, "$ref").is_some() {
            return walk(spec, deref(spec, v)?, out, depth + 1);
        }
        if let Some(parts) = v.get("allOf").and_then(Value::as_sequence) {
            for part in parts {
                walk(spec, part, out, depth + 1)?;
            }
        }
        for r in v
            .get("required")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            if let Some(r) = r.as_str().filter(|r| !out.iter().any(|x| x == r)) {
                out.push(r.to_owned());
            }
        }
        Ok(())
    }
    let v = spec
        .get("components")
        .and_then(|c| c.get("schemas"))
        .and_then(|c| c.get(schema))
        .with_context(|| format!("no schema {schema}"))?;
    let mut out = Vec::new();
    walk(spec, v, &mut out, depth)?;
    Ok(out)
}

/// Every file this part of codegen writes, given the REST spec and the model built from it.
pub(crate) fn outputs(spec: &Value, items: &Items, source_note: &str) -> Result<Vec<Output>> {
    let mut extra = Items::new();
    let mut ops = parse_ops(spec, &mut extra)?;
    for op in &mut ops {
        if let Some(schema) = &op.body {
            let Some(Item::Struct(st)) = items.get(schema) else {
                bail!("{}: request body {schema} is not an object schema", op.id);
            };
            let order = required_order(spec, schema, 0)?;
            let rank = |f: &Field| {
                order
                    .iter()
                    .position(|w| *w == f.wire)
                    .unwrap_or(usize::MAX)
            };
            // Required fields first, in the order the schema's `required` lists them (so the
            // constructor reads `create(name, image)`), then the rest in schema order.
            let mut fields = st.fields.clone();
            fields.sort_by_key(|f| if is_required(f) { rank(f) } else { usize::MAX });
            op.body_fields = fields;
            op.body_has_extra = st.extra.is_some();
        }
    }
    for (id, path, _) in BODY_CHECKS {
        if !ops.iter().any(|o| o.id == *id && o.body.is_some()) {
            bail!("BODY_CHECKS names {id} ({path}), which is no operation with a body");
        }
    }
    let dir = Path::new(OUT_DIR);
    let mut out = vec![
        Output {
            path: dir.join("operations.rs"),
            contents: format(source_note, &operations_rs(&ops, &extra)?)?,
        },
        Output {
            path: dir.join("groups.rs"),
            contents: format(source_note, &groups_rs(&ops)?)?,
        },
        Output {
            path: dir.join("table.rs"),
            contents: format(source_note, &table_rs(&ops))?,
        },
    ];
    out.extend(fixtures(spec, &ops)?);
    Ok(out)
}

/// Every file this part of codegen writes (called from `codegen::outputs`).
pub(crate) fn outputs_from_schema(
    root: &Path,
    sources: &crate::sources::Sources,
) -> Result<Vec<Output>> {
    let text = sources.read_verified(root, REST_SPEC)?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing schema/{REST_SPEC}"))?;
    let spec = serde_yaml::to_value(json)?;
    let items =
        crate::codegen::openapi::build(&spec).with_context(|| format!("schema/{REST_SPEC}"))?;
    let note = format!(
        "schema/{REST_SPEC} (sha256 {})",
        sources.files[REST_SPEC].sha256
    );
    outputs(&spec, &items, &note)
}
