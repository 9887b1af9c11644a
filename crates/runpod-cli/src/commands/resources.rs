//! Cloud resources: `endpoints`, `templates`, `pods`, `volumes`, `registries`.
//!
//! Create and update bodies start from `--body` (REST v2 JSON); flags override its fields;
//! the result is decoded into the SDK's request type, so a missing or mistyped field is a
//! usage error naming it before anything is sent.

use std::time::Duration;

use futures_util::StreamExt as _;
use runpod::admin::AdminClient;
use runpod::admin::rest;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::cli::{
    CloudArg, ContainerArgs, EndpointKindArg, EndpointShape, EndpointsCommand, PodsCommand,
    RegistriesCommand, TemplatesCommand, VolumesCommand,
};
use crate::context::Context;
use crate::error::{CliError, CliResult, Doing};
use crate::input;
use crate::output::{Output, to_value};
use crate::table::{Table, at};

/// A table column: header and how to read the cell from one item.
type Column = (&'static str, fn(&Value) -> String);

/// Without `--follow`, the log stream is over once it has been quiet this long.
const LOG_IDLE: Duration = Duration::from_millis(1500);

/// One admin call's client and message context.
struct Admin {
    client: AdminClient,
    base: String,
}

impl Admin {
    fn new(ctx: &Context) -> CliResult<Self> {
        let client = ctx.admin()?;
        let base = client.http().config().rest_base_url().to_owned();
        Ok(Self { client, base })
    }

    fn doing(&self, what: String) -> Doing {
        Doing::new(what, &self.base)
    }
}

pub(crate) async fn templates(ctx: &Context, command: TemplatesCommand) -> CliResult {
    const COLUMNS: &[Column] = &[
        ("ID", |v| at(v, "/id")),
        ("NAME", |v| at(v, "/name")),
        ("IMAGE", |v| at(v, "/image")),
        ("SERVERLESS", |v| at(v, "/serverless")),
        ("CATEGORY", |v| at(v, "/category")),
    ];
    let admin = Admin::new(ctx)?;
    let api = admin.client.templates();
    match command {
        TemplatesCommand::List => {
            let doing = admin.doing("list templates".to_owned());
            let list = api.list().send().await.map_err(doing.err())?;
            print_list(&ctx.out, &list, "/templates", COLUMNS)
        }
        TemplatesCommand::Get(id) => {
            let doing = admin.doing(format!("get template {}", id.id));
            ctx.out
                .object(&api.get(&id.id).send().await.map_err(doing.err())?)
        }
        TemplatesCommand::Create {
            name,
            container,
            serverless,
            body,
        } => {
            let mut fields = Fields::new(input::body(body.body.as_deref())?);
            fields.set("name", name);
            fields.container(container);
            if serverless {
                fields.set("serverless", Some(true));
            }
            let request: rest::CreateTemplateRequest = fields.decode("template create")?;
            let doing = admin.doing(format!("create template {}", request.name));
            let created = api
                .create("", "")
                .set_body(request)
                .send()
                .await
                .map_err(doing.err())?;
            ctx.out.object(&created)
        }
        TemplatesCommand::Update {
            id,
            name,
            container,
            body,
        } => {
            let mut fields = Fields::new(input::body(body.body.as_deref())?);
            fields.set("name", name);
            fields.container(container);
            let request: rest::UpdateTemplateRequest = fields.decode("template update")?;
            let doing = admin.doing(format!("update template {}", id.id));
            let updated = api
                .update(&id.id)
                .set_body(request)
                .send()
                .await
                .map_err(doing.err())?;
            ctx.out.object(&updated)
        }
        TemplatesCommand::Delete(id) => {
            let doing = admin.doing(format!("delete template {}", id.id));
            api.delete(&id.id).send().await.map_err(doing.err())?;
            print_deleted(&ctx.out, "template", &id.id)
        }
    }
}

pub(crate) async fn endpoints(ctx: &Context, command: EndpointsCommand) -> CliResult {
    const COLUMNS: &[Column] = &[
        ("ID", |v| at(v, "/id")),
        ("NAME", |v| at(v, "/name")),
        ("TYPE", |v| at(v, "/type")),
        ("GPU POOLS", |v| at(v, "/gpu/pools")),
        ("WORKERS", |v| {
            format!("{}-{}", at(v, "/workers/min"), at(v, "/workers/max"))
        }),
        ("IMAGE", |v| at(v, "/image")),
    ];
    let admin = Admin::new(ctx)?;
    let api = admin.client.endpoints();
    match command {
        EndpointsCommand::List => {
            let doing = admin.doing("list endpoints".to_owned());
            let list = api.list().send().await.map_err(doing.err())?;
            print_list(&ctx.out, &list, "/endpoints", COLUMNS)
        }
        EndpointsCommand::Get(id) => {
            let doing = admin.doing(format!("get endpoint {}", id.id));
            ctx.out
                .object(&api.get(&id.id).send().await.map_err(doing.err())?)
        }
        EndpointsCommand::Create {
            name,
            kind,
            request_count,
            shape,
            body,
        } => {
            let mut fields = Fields::new(input::body(body.body.as_deref())?);
            match kind {
                Some(EndpointKindArg::LoadBalancer) => fields.set("type", Some("LOAD_BALANCER")),
                Some(EndpointKindArg::Queue) => fields.set("type", Some("QUEUE")),
                None => {}
            }
            if let Some(n) = request_count {
                fields.set(
                    "scaling",
                    Some(json!({"type": "REQUEST_COUNT", "requestCount": n})),
                );
            }
            let load_balancer = fields.body.get("type") == Some(&json!("LOAD_BALANCER"));
            if load_balancer && !fields.body.contains_key("scaling") {
                return Err(CliError::usage(
                    "a load-balancer endpoint scales on request count: add --request-count N",
                ));
            }
            // The Python SDK's defaults: a queue endpoint scaling on a 4 s queue delay.
            fields.default("type", json!("QUEUE"));
            fields.default("scaling", json!({"type": "QUEUE_DELAY", "queueDelay": 4}));
            fields.set("name", name);
            fields.endpoint_shape(shape);
            let request: rest::CreateEndpointRequest = fields.decode("endpoint create")?;
            runpod::admin::check_endpoint_kind(&request.type_, Some(&request.scaling))
                .map_err(|e| CliError::usage(e.to_string()))?;
            let doing = admin.doing(format!("create endpoint {}", request.name));
            let created = api
                .create(
                    "",
                    rest::EndpointType::Queue,
                    rest::EndpointScaling::default(),
                )
                .set_body(request)
                .send()
                .await
                .map_err(doing.err())?;
            ctx.out.object(&created)
        }
        EndpointsCommand::Update {
            id,
            name,
            shape,
            body,
        } => {
            let mut fields = Fields::new(input::body(body.body.as_deref())?);
            fields.set("name", name);
            fields.endpoint_shape(shape);
            let request: rest::UpdateEndpointRequest = fields.decode("endpoint update")?;
            let doing = admin.doing(format!("update endpoint {}", id.id));
            let updated = api
                .update(&id.id)
                .set_body(request)
                .send()
                .await
                .map_err(doing.err())?;
            ctx.out.object(&updated)
        }
        EndpointsCommand::Delete(id) => {
            let doing = admin.doing(format!("delete endpoint {}", id.id));
            api.delete(&id.id).send().await.map_err(doing.err())?;
            print_deleted(&ctx.out, "endpoint", &id.id)
        }
    }
}

pub(crate) async fn pods(ctx: &Context, command: PodsCommand) -> CliResult {
    const COLUMNS: &[Column] = &[
        ("ID", |v| at(v, "/id")),
        ("NAME", |v| at(v, "/name")),
        ("STATUS", |v| at(v, "/status")),
        ("GPU", |v| match v.pointer("/gpu/id") {
            Some(Value::String(id)) => format!("{} x{}", id, at(v, "/gpu/count")),
            _ => "-".to_owned(),
        }),
        ("$/H", |v| {
            match v.pointer("/cost").and_then(Value::as_f64) {
                Some(cost) => format!("{cost:.2}"),
                None => "-".to_owned(),
            }
        }),
        ("IMAGE", |v| at(v, "/image")),
    ];
    let admin = Admin::new(ctx)?;
    let api = admin.client.pods();
    match command {
        PodsCommand::List => {
            let doing = admin.doing("list pods".to_owned());
            let list = api.list().send().await.map_err(doing.err())?;
            print_list(&ctx.out, &list, "/pods", COLUMNS)
        }
        PodsCommand::Get(id) => {
            let doing = admin.doing(format!("get pod {}", id.id));
            ctx.out
                .object(&api.get(&id.id).send().await.map_err(doing.err())?)
        }
        PodsCommand::Create {
            name,
            container,
            gpu_types,
            gpu_count,
            cloud,
            template_id,
            body,
        } => {
            let mut fields = Fields::new(input::body(body.body.as_deref())?);
            fields.set("name", name);
            fields.container(container);
            fields.set("templateId", template_id);
            fields.set(
                "cloud",
                cloud.map(|c| match c {
                    CloudArg::Secure => "SECURE",
                    CloudArg::Community => "COMMUNITY",
                }),
            );
            if let Some(first) = gpu_types.first() {
                fields.set_path(&["gpu", "id"], json!(first));
            }
            if let Some(count) = gpu_count {
                fields.set_path(&["gpu", "count"], json!(count));
            }
            let request: rest::CreatePodRequest = fields.decode("pod create")?;
            let doing = admin.doing(format!("create pod {}", request.name));
            let create = api.create("").set_body(request);
            let pod = if gpu_types.is_empty() {
                create.safely().send().await
            } else {
                create.gpu_fallback(gpu_types).send().await
            }
            .map_err(doing.err())?;
            ctx.out.object(&pod.pod)
        }
        PodsCommand::Update {
            id,
            name,
            container,
            body,
        } => {
            let mut fields = Fields::new(input::body(body.body.as_deref())?);
            fields.set("name", name);
            fields.container(container);
            let request: rest::UpdatePodRequest = fields.decode("pod update")?;
            let doing = admin.doing(format!("update pod {}", id.id));
            let updated = api
                .update(&id.id)
                .set_body(request)
                .send()
                .await
                .map_err(doing.err())?;
            ctx.out.object(&updated)
        }
        PodsCommand::Delete(id) => {
            let doing = admin.doing(format!("terminate pod {}", id.id));
            api.delete(&id.id).send().await.map_err(doing.err())?;
            print_deleted(&ctx.out, "pod", &id.id)
        }
        PodsCommand::Start(id) => {
            let doing = admin.doing(format!("start pod {}", id.id));
            let pod = api.start(&id.id).send().await.map_err(doing.err())?;
            print_action(&ctx.out, "start", &id.id, pod.as_ref())
        }
        PodsCommand::Stop(id) => {
            let doing = admin.doing(format!("stop pod {}", id.id));
            let pod = api.stop(&id.id).send().await.map_err(doing.err())?;
            print_action(&ctx.out, "stop", &id.id, pod.as_ref())
        }
        PodsCommand::Restart(id) => {
            let doing = admin.doing(format!("restart pod {}", id.id));
            let pod = api.restart(&id.id).send().await.map_err(doing.err())?;
            print_action(&ctx.out, "restart", &id.id, pod.as_ref())
        }
        PodsCommand::Logs { id, follow, tail } => {
            let doing = admin.doing(format!("logs of pod {}", id.id));
            let mut lines = std::pin::pin!(api.logs(&id.id).tail(tail).stream());
            loop {
                let next = if follow {
                    lines.next().await
                } else {
                    match tokio::time::timeout(LOG_IDLE, lines.next()).await {
                        Ok(next) => next,
                        Err(_) => break,
                    }
                };
                match next {
                    Some(Ok(line)) if ctx.out.is_json() => ctx.out.json_line(&line)?,
                    Some(Ok(line)) => ctx.out.line(&line.line)?,
                    Some(Err(err)) => return Err(doing.fail(err)),
                    None => break,
                }
            }
            Ok(())
        }
    }
}

pub(crate) async fn volumes(ctx: &Context, command: VolumesCommand) -> CliResult {
    const COLUMNS: &[Column] = &[
        ("ID", |v| at(v, "/id")),
        ("NAME", |v| at(v, "/name")),
        ("SIZE GB", |v| at(v, "/size")),
        ("DATA CENTER", |v| at(v, "/dataCenter")),
        ("TYPE", |v| at(v, "/type")),
    ];
    let admin = Admin::new(ctx)?;
    let api = admin.client.network_volumes();
    match command {
        VolumesCommand::List => {
            let doing = admin.doing("list network volumes".to_owned());
            let list = api.list().send().await.map_err(doing.err())?;
            print_list(&ctx.out, &list, "/networkVolumes", COLUMNS)
        }
        VolumesCommand::Get(id) => {
            let doing = admin.doing(format!("get network volume {}", id.id));
            ctx.out
                .object(&api.get(&id.id).send().await.map_err(doing.err())?)
        }
        VolumesCommand::Create {
            name,
            data_center,
            size,
            body,
        } => {
            let mut fields = Fields::new(input::body(body.body.as_deref())?);
            fields.set("name", name);
            fields.set("dataCenter", data_center);
            fields.set("size", size);
            let request: rest::CreateNetworkVolumeRequest = fields.decode("volume create")?;
            let doing = admin.doing(format!("create network volume {}", request.name));
            let created = api
                .create("", 0, "")
                .set_body(request)
                .send()
                .await
                .map_err(doing.err())?;
            ctx.out.object(&created)
        }
        VolumesCommand::Update {
            id,
            name,
            size,
            body,
        } => {
            let mut fields = Fields::new(input::body(body.body.as_deref())?);
            fields.set("name", name);
            fields.set("size", size);
            let request: rest::UpdateNetworkVolumeRequest = fields.decode("volume update")?;
            let doing = admin.doing(format!("update network volume {}", id.id));
            let updated = api
                .update(&id.id)
                .set_body(request)
                .send()
                .await
                .map_err(doing.err())?;
            ctx.out.object(&updated)
        }
        VolumesCommand::Delete(id) => {
            let doing = admin.doing(format!("delete network volume {}", id.id));
            api.delete(&id.id).send().await.map_err(doing.err())?;
            print_deleted(&ctx.out, "network volume", &id.id)
        }
    }
}

pub(crate) async fn registries(ctx: &Context, command: RegistriesCommand) -> CliResult {
    const COLUMNS: &[Column] = &[("ID", |v| at(v, "/id")), ("NAME", |v| at(v, "/name"))];
    let admin = Admin::new(ctx)?;
    let api = admin.client.registries();
    match command {
        RegistriesCommand::List => {
            let doing = admin.doing("list registries".to_owned());
            let list = api.list().send().await.map_err(doing.err())?;
            print_list(&ctx.out, &list, "/registries", COLUMNS)
        }
        RegistriesCommand::Get(id) => {
            let doing = admin.doing(format!("get registry {}", id.id));
            ctx.out
                .object(&api.get(&id.id).send().await.map_err(doing.err())?)
        }
        RegistriesCommand::Create { name, username } => {
            let password = input::secret("Registry password (input hidden): ", "password")?;
            let doing = admin.doing(format!("create registry {name}"));
            let created = api
                .create(&name, username, password)
                .send()
                .await
                .map_err(doing.err())?;
            ctx.out.object(&created)
        }
        RegistriesCommand::Delete(id) => {
            let doing = admin.doing(format!("delete registry {}", id.id));
            api.delete(&id.id).send().await.map_err(doing.err())?;
            print_deleted(&ctx.out, "registry", &id.id)
        }
    }
}

/// A list response: as the API sent it (JSON), or a table of the items under `pointer`.
fn print_list<T: Serialize>(
    out: &Output,
    response: &T,
    pointer: &str,
    columns: &[Column],
) -> CliResult {
    if out.is_json() {
        return out.json(response);
    }
    let value = to_value(response)?;
    let items = value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    out.table(&list_table(items, columns))
}

fn list_table(items: &[Value], columns: &[Column]) -> Table {
    let mut table = Table::new(columns.iter().map(|(h, _)| *h));
    for (i, (header, _)) in columns.iter().enumerate() {
        match *header {
            "STATUS" => table = table.status_column(i),
            h if h.contains("$") || h.contains("GB") => table = table.align_right(i),
            _ => {}
        }
    }
    for item in items {
        table.push(columns.iter().map(|(_, read)| read(item)));
    }
    table
}

fn print_deleted(out: &Output, noun: &str, id: &str) -> CliResult {
    if out.is_json() {
        out.json(&json!({"id": id, "deleted": true}))
    } else {
        out.line(&format!("deleted {noun} {id}"))
    }
}

fn print_action(out: &Output, action: &str, id: &str, pod: Option<&rest::Pod>) -> CliResult {
    match pod {
        Some(pod) => out.object(pod),
        None if out.is_json() => out.json(&json!({"id": id, "action": action})),
        None => out.line(&format!("pod {id}: {action} requested")),
    }
}

/// A request body under construction: `--body` first, flags on top.
#[derive(Debug)]
struct Fields {
    body: Map<String, Value>,
}

impl Fields {
    fn new(body: Map<String, Value>) -> Self {
        Self { body }
    }

    fn set<T: Serialize>(&mut self, key: &str, value: Option<T>) {
        if let Some(value) = value.and_then(|v| serde_json::to_value(v).ok()) {
            self.body.insert(key.to_owned(), value);
        }
    }

    /// Sets a field unless `--body` has it.
    fn default(&mut self, key: &str, value: Value) {
        self.body.entry(key.to_owned()).or_insert(value);
    }

    /// Sets `a.b.c`, keeping the other fields of `a` and `a.b` from `--body`.
    fn set_path(&mut self, path: &[&str], value: Value) {
        let Some((last, parents)) = path.split_last() else {
            return;
        };
        let mut map = &mut self.body;
        for key in parents {
            let slot = map
                .entry((*key).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(inner) = slot else {
                return;
            };
            map = inner;
        }
        map.insert((*last).to_owned(), value);
    }

    fn container(&mut self, c: ContainerArgs) {
        self.set("image", c.image);
        for (key, value) in c.env {
            self.set_path(&["env", &key], Value::String(value));
        }
        if !c.ports.is_empty() {
            self.set("ports", Some(c.ports));
        }
        self.set("disk", c.disk);
        self.set("registry", c.registry);
        self.set("args", c.args);
    }

    fn endpoint_shape(&mut self, s: EndpointShape) {
        self.set("templateId", s.template_id);
        if !s.gpus.is_empty() {
            self.set_path(&["gpu", "pools"], json!(s.gpus));
        }
        if let Some(count) = s.gpu_count {
            self.set_path(&["gpu", "count"], json!(count));
        }
        for (key, value) in [
            ("min", s.workers_min),
            ("max", s.workers_max),
            ("idleTimeout", s.idle_timeout),
        ] {
            if let Some(value) = value {
                self.set_path(&["workers", key], json!(value));
            }
        }
        if !s.network_volumes.is_empty() {
            self.set("networkVolumes", Some(s.network_volumes));
        }
    }

    /// The body as the SDK's request type; a missing or mistyped field is a usage error.
    fn decode<T: DeserializeOwned>(self, what: &str) -> CliResult<T> {
        runpod::transport::from_value(Value::Object(self.body)).map_err(|e| {
            let reason = std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_else(|| e.to_string());
            let at = e
                .json_path()
                .map(|p| format!(" at `{p}`"))
                .unwrap_or_default();
            CliError::usage(format!(
                "{what}: invalid request{at}: {reason} (set it with a flag or in --body)"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_body_and_nested_fields_merge() {
        let body = input::body(Some(
            r#"{"name": "from-body", "gpu": {"count": 2, "id": "A"}, "env": {"A": "1", "B": "2"}}"#,
        ))
        .unwrap();
        let mut fields = Fields::new(body);
        fields.set("name", Some("from-flag"));
        fields.set_path(&["gpu", "id"], json!("B"));
        fields.set_path(&["env", "B"], json!("3"));
        fields.default("cloud", json!("SECURE"));
        assert_eq!(
            Value::Object(fields.body),
            json!({
                "name": "from-flag",
                "gpu": {"count": 2, "id": "B"},
                "env": {"A": "1", "B": "3"},
                "cloud": "SECURE"
            })
        );
    }

    #[test]
    fn a_missing_required_field_is_a_usage_error_that_names_it() {
        let fields = Fields::new(Map::new());
        let err = fields
            .decode::<rest::CreateTemplateRequest>("template create")
            .unwrap_err();
        assert_eq!(err.class().code(), 2);
        assert!(
            err.message().contains("`image`") || err.message().contains("`name`"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn a_mistyped_field_names_its_path() {
        let mut fields = Fields::new(Map::new());
        fields.set("name", Some("v"));
        fields.set("dataCenter", Some("EU-RO-1"));
        fields.set("size", Some("big"));
        let err = fields
            .decode::<rest::CreateNetworkVolumeRequest>("volume create")
            .unwrap_err();
        assert!(err.message().contains("at `size`"), "{}", err.message());
    }
}
