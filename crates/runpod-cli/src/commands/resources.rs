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
    BodyArg, CloudArg, ContainerArgs, EndpointCreate, EndpointFields, EndpointKindArg,
    EndpointShape, NamedContainer, NoMore, PodCreate, PodMore, RegistryCreate, Resource,
    TemplateCreate, Updatable, Update, VolumeCreate, VolumeUpdate,
};
use crate::context::Context;
use crate::error::{CliError, CliResult, Doing};
use crate::input;
use crate::output::{Output, to_value};
use crate::table::{ColumnKind, Table, at};

/// A table column: header, how its cells align and colour, and how to read one from an item.
pub(crate) struct Column {
    header: &'static str,
    kind: ColumnKind,
    read: fn(&Value) -> String,
}

const fn text(header: &'static str, read: fn(&Value) -> String) -> Column {
    Column {
        header,
        kind: ColumnKind::Text,
        read,
    }
}

const fn number(header: &'static str, read: fn(&Value) -> String) -> Column {
    Column {
        header,
        kind: ColumnKind::Number,
        read,
    }
}

const fn status(header: &'static str, read: fn(&Value) -> String) -> Column {
    Column {
        header,
        kind: ColumnKind::Status,
        read,
    }
}

/// Without `--follow`, the log stream is over once it has been quiet this long.
const LOG_IDLE: Duration = Duration::from_millis(1500);

/// One admin call's client and message context.
pub(crate) struct Admin {
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

/// One kind of cloud resource: its nouns, its table, and the SDK calls behind the commands
/// every resource has. [`run`] drives `list`, `get`, `create`, `delete` and the rest for all of
/// them, so a resource is this table entry and nothing else.
pub(crate) trait Kind {
    /// In messages: `get template ID`.
    const ONE: &'static str;
    /// In messages: `list templates`.
    const MANY: &'static str;
    /// Where a list answer keeps its items.
    const LIST_AT: &'static str;
    const COLUMNS: &'static [Column];
    /// The verb of `delete` in messages (pods are terminated).
    const DELETE: &'static str = "delete";
    type List: Serialize;
    type Item: Serialize;
    /// The `create` flags.
    type Create: clap::Args;
    /// The commands beyond the common ones.
    type More: clap::Subcommand;

    async fn list(api: &AdminClient) -> runpod::Result<Self::List>;
    async fn get(api: &AdminClient, id: &str) -> runpod::Result<Self::Item>;
    async fn delete(api: &AdminClient, id: &str) -> runpod::Result<()>;
    async fn create(ctx: &Context, admin: &Admin, flags: Self::Create) -> CliResult;
    async fn more(ctx: &Context, admin: &Admin, command: Self::More) -> CliResult;
}

/// A resource created from a REST v2 body: `--body` first, flags on top.
trait CreatedFromBody: Kind {
    type Request: DeserializeOwned;
    /// Before decoding: fields the API requires that have a sensible default here (`--body`
    /// may override), and checks that name a flag.
    fn prepare(_fields: &mut Fields) -> CliResult {
        Ok(())
    }
    /// After decoding, before sending: checks of the whole request.
    fn check(_request: &Self::Request) -> CliResult {
        Ok(())
    }
    async fn send(api: &AdminClient, request: Self::Request) -> runpod::Result<Self::Item>;
}

/// A resource REST v2 can change.
trait Changed: Kind {
    type Request: DeserializeOwned;
    async fn send(
        api: &AdminClient,
        id: &str,
        request: Self::Request,
    ) -> runpod::Result<Self::Item>;
}

/// Flags that make (part of) a request body.
trait Flags {
    fn body(&self) -> &BodyArg;
    fn apply(self, fields: &mut Fields);

    fn into_fields(self) -> CliResult<Fields>
    where
        Self: Sized,
    {
        let mut fields = Fields::new(input::body(self.body().body.as_deref())?);
        self.apply(&mut fields);
        Ok(fields)
    }
}

/// `runpod <resource> …` for every resource.
pub(crate) async fn run<K: Kind>(
    ctx: &Context,
    command: Resource<K::Create, K::More>,
) -> CliResult {
    let admin = Admin::new(ctx)?;
    match command {
        Resource::List => {
            let doing = admin.doing(format!("list {}", K::MANY));
            let list = K::list(&admin.client).await.map_err(doing.err())?;
            print_list(&ctx.out, &list, K::LIST_AT, K::COLUMNS)
        }
        Resource::Get(id) => {
            let doing = admin.doing(format!("get {} {}", K::ONE, id.id));
            let item = K::get(&admin.client, &id.id).await.map_err(doing.err())?;
            ctx.out.object(&item)
        }
        Resource::Create(flags) => K::create(ctx, &admin, flags).await,
        Resource::Delete(id) => {
            let doing = admin.doing(format!("{} {} {}", K::DELETE, K::ONE, id.id));
            K::delete(&admin.client, &id.id)
                .await
                .map_err(doing.err())?;
            print_deleted(&ctx.out, K::ONE, &id.id)
        }
        Resource::More(command) => K::more(ctx, &admin, command).await,
    }
}

async fn create_from_body<K: CreatedFromBody>(
    ctx: &Context,
    admin: &Admin,
    flags: impl Flags,
) -> CliResult {
    let mut fields = flags.into_fields()?;
    K::prepare(&mut fields)?;
    let doing = admin.doing(format!("create {} {}", K::ONE, fields.name()));
    let request: K::Request = fields.decode(&format!("{} create", K::ONE))?;
    K::check(&request)?;
    let created = K::send(&admin.client, request).await.map_err(doing.err())?;
    ctx.out.object(&created)
}

async fn update<K: Changed, U: Flags + clap::Args>(
    ctx: &Context,
    admin: &Admin,
    update: Update<U>,
) -> CliResult {
    let request: K::Request = update
        .fields
        .into_fields()?
        .decode(&format!("{} update", K::ONE))?;
    let id = update.id.id;
    let doing = admin.doing(format!("update {} {id}", K::ONE));
    let updated = K::send(&admin.client, &id, request)
        .await
        .map_err(doing.err())?;
    ctx.out.object(&updated)
}

pub(crate) struct Templates;

impl Kind for Templates {
    const ONE: &'static str = "template";
    const MANY: &'static str = "templates";
    const LIST_AT: &'static str = "/templates";
    const COLUMNS: &'static [Column] = &[
        text("ID", |v| at(v, "/id")),
        text("NAME", |v| at(v, "/name")),
        text("IMAGE", |v| at(v, "/image")),
        text("SERVERLESS", |v| at(v, "/serverless")),
        text("CATEGORY", |v| at(v, "/category")),
    ];
    type List = rest::ListTemplatesResponse;
    type Item = rest::Template;
    type Create = TemplateCreate;
    type More = Updatable<NamedContainer>;

    async fn list(api: &AdminClient) -> runpod::Result<Self::List> {
        api.templates().list().send().await
    }
    async fn get(api: &AdminClient, id: &str) -> runpod::Result<Self::Item> {
        api.templates().get(id).send().await
    }
    async fn delete(api: &AdminClient, id: &str) -> runpod::Result<()> {
        api.templates().delete(id).send().await.map(drop)
    }
    async fn create(ctx: &Context, admin: &Admin, flags: TemplateCreate) -> CliResult {
        create_from_body::<Self>(ctx, admin, flags).await
    }
    async fn more(ctx: &Context, admin: &Admin, command: Self::More) -> CliResult {
        let Updatable::Update(u) = command;
        update::<Self, _>(ctx, admin, u).await
    }
}

impl CreatedFromBody for Templates {
    type Request = rest::CreateTemplateRequest;
    async fn send(api: &AdminClient, request: Self::Request) -> runpod::Result<Self::Item> {
        api.templates().create_from(request).send().await
    }
}

impl Changed for Templates {
    type Request = rest::UpdateTemplateRequest;
    async fn send(
        api: &AdminClient,
        id: &str,
        request: Self::Request,
    ) -> runpod::Result<Self::Item> {
        api.templates().update(id).set_body(request).send().await
    }
}

pub(crate) struct Endpoints;

impl Kind for Endpoints {
    const ONE: &'static str = "endpoint";
    const MANY: &'static str = "endpoints";
    const LIST_AT: &'static str = "/endpoints";
    const COLUMNS: &'static [Column] = &[
        text("ID", |v| at(v, "/id")),
        text("NAME", |v| at(v, "/name")),
        text("TYPE", |v| at(v, "/type")),
        text("GPU POOLS", |v| at(v, "/gpu/pools")),
        text("WORKERS", |v| {
            format!("{}-{}", at(v, "/workers/min"), at(v, "/workers/max"))
        }),
        text("IMAGE", |v| at(v, "/image")),
    ];
    type List = rest::ListEndpointsResponse;
    type Item = rest::Endpoint;
    type Create = EndpointCreate;
    type More = Updatable<EndpointFields>;

    async fn list(api: &AdminClient) -> runpod::Result<Self::List> {
        api.endpoints().list().send().await
    }
    async fn get(api: &AdminClient, id: &str) -> runpod::Result<Self::Item> {
        api.endpoints().get(id).send().await
    }
    async fn delete(api: &AdminClient, id: &str) -> runpod::Result<()> {
        api.endpoints().delete(id).send().await.map(drop)
    }
    async fn create(ctx: &Context, admin: &Admin, flags: EndpointCreate) -> CliResult {
        create_from_body::<Self>(ctx, admin, flags).await
    }
    async fn more(ctx: &Context, admin: &Admin, command: Self::More) -> CliResult {
        let Updatable::Update(u) = command;
        update::<Self, _>(ctx, admin, u).await
    }
}

impl CreatedFromBody for Endpoints {
    type Request = rest::CreateEndpointRequest;
    /// A load-balancer endpoint needs REQUEST_COUNT scaling; otherwise the Python SDK's
    /// defaults: a queue endpoint scaling on a 4 s queue delay.
    fn prepare(fields: &mut Fields) -> CliResult {
        let load_balancer = fields.body.get("type") == Some(&json!("LOAD_BALANCER"));
        if load_balancer && !fields.body.contains_key("scaling") {
            return Err(CliError::usage(
                "a load-balancer endpoint scales on request count: add --request-count N",
            ));
        }
        fields.default("type", json!("QUEUE"));
        fields.default("scaling", json!({"type": "QUEUE_DELAY", "queueDelay": 4}));
        Ok(())
    }
    fn check(request: &Self::Request) -> CliResult {
        runpod::admin::check_endpoint_kind(&request.type_, Some(&request.scaling))
            .map_err(|e| CliError::usage(e.to_string()))
    }
    async fn send(api: &AdminClient, request: Self::Request) -> runpod::Result<Self::Item> {
        api.endpoints().create_from(request).send().await
    }
}

impl Changed for Endpoints {
    type Request = rest::UpdateEndpointRequest;
    async fn send(
        api: &AdminClient,
        id: &str,
        request: Self::Request,
    ) -> runpod::Result<Self::Item> {
        api.endpoints().update(id).set_body(request).send().await
    }
}

pub(crate) struct Pods;

impl Kind for Pods {
    const ONE: &'static str = "pod";
    const MANY: &'static str = "pods";
    const LIST_AT: &'static str = "/pods";
    const DELETE: &'static str = "terminate";
    const COLUMNS: &'static [Column] = &[
        text("ID", |v| at(v, "/id")),
        text("NAME", |v| at(v, "/name")),
        status("STATUS", |v| at(v, "/status")),
        text("GPU", |v| match v.pointer("/gpu/id") {
            Some(Value::String(id)) => format!("{} x{}", id, at(v, "/gpu/count")),
            _ => "-".to_owned(),
        }),
        number("$/H", |v| {
            match v.pointer("/cost").and_then(Value::as_f64) {
                Some(cost) => format!("{cost:.2}"),
                None => "-".to_owned(),
            }
        }),
        text("IMAGE", |v| at(v, "/image")),
    ];
    type List = rest::ListPodsResponse;
    type Item = rest::Pod;
    type Create = PodCreate;
    type More = PodMore;

    async fn list(api: &AdminClient) -> runpod::Result<Self::List> {
        api.pods().list().send().await
    }
    async fn get(api: &AdminClient, id: &str) -> runpod::Result<Self::Item> {
        api.pods().get(id).send().await
    }
    async fn delete(api: &AdminClient, id: &str) -> runpod::Result<()> {
        api.pods().delete(id).send().await.map(drop)
    }

    async fn create(ctx: &Context, admin: &Admin, flags: PodCreate) -> CliResult {
        let mut fields = Fields::new(input::body(flags.body.body.as_deref())?);
        fields.set("name", flags.name);
        fields.container(flags.container);
        fields.set("templateId", flags.template_id);
        fields.set(
            "cloud",
            flags.cloud.map(|c| match c {
                CloudArg::Secure => "SECURE",
                CloudArg::Community => "COMMUNITY",
            }),
        );
        if let Some(first) = flags.gpu_types.first() {
            fields.set_path(&["gpu", "id"], json!(first));
        }
        if let Some(count) = flags.gpu_count {
            fields.set_path(&["gpu", "count"], json!(count));
        }
        let request: rest::CreatePodRequest = fields.decode("pod create")?;
        let doing = admin.doing(format!("create pod {}", request.name));
        let create = admin.client.pods().create_from(request);
        let pod = if flags.gpu_types.is_empty() {
            create.safely().send().await
        } else {
            create.gpu_fallback(flags.gpu_types).send().await
        }
        .map_err(doing.err())?;
        ctx.out.object(&pod.pod)
    }

    async fn more(ctx: &Context, admin: &Admin, command: PodMore) -> CliResult {
        let api = admin.client.pods();
        match command {
            PodMore::Update(u) => update::<Self, _>(ctx, admin, u).await,
            PodMore::Start(id) => {
                let doing = admin.doing(format!("start pod {}", id.id));
                let pod = api.start(&id.id).send().await.map_err(doing.err())?;
                print_action(&ctx.out, "start", &id.id, pod.as_ref())
            }
            PodMore::Stop(id) => {
                let doing = admin.doing(format!("stop pod {}", id.id));
                let pod = api.stop(&id.id).send().await.map_err(doing.err())?;
                print_action(&ctx.out, "stop", &id.id, pod.as_ref())
            }
            PodMore::Restart(id) => {
                let doing = admin.doing(format!("restart pod {}", id.id));
                let pod = api.restart(&id.id).send().await.map_err(doing.err())?;
                print_action(&ctx.out, "restart", &id.id, pod.as_ref())
            }
            PodMore::Logs { id, follow, tail } => {
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
}

impl Changed for Pods {
    type Request = rest::UpdatePodRequest;
    async fn send(
        api: &AdminClient,
        id: &str,
        request: Self::Request,
    ) -> runpod::Result<Self::Item> {
        api.pods().update(id).set_body(request).send().await
    }
}

pub(crate) struct Volumes;

impl Kind for Volumes {
    const ONE: &'static str = "network volume";
    const MANY: &'static str = "network volumes";
    const LIST_AT: &'static str = "/networkVolumes";
    const COLUMNS: &'static [Column] = &[
        text("ID", |v| at(v, "/id")),
        text("NAME", |v| at(v, "/name")),
        number("SIZE GB", |v| at(v, "/size")),
        text("DATA CENTER", |v| at(v, "/dataCenter")),
        text("TYPE", |v| at(v, "/type")),
    ];
    type List = rest::ListNetworkVolumesResponse;
    type Item = rest::NetworkVolume;
    type Create = VolumeCreate;
    type More = Updatable<VolumeUpdate>;

    async fn list(api: &AdminClient) -> runpod::Result<Self::List> {
        api.network_volumes().list().send().await
    }
    async fn get(api: &AdminClient, id: &str) -> runpod::Result<Self::Item> {
        api.network_volumes().get(id).send().await
    }
    async fn delete(api: &AdminClient, id: &str) -> runpod::Result<()> {
        api.network_volumes().delete(id).send().await.map(drop)
    }
    async fn create(ctx: &Context, admin: &Admin, flags: VolumeCreate) -> CliResult {
        create_from_body::<Self>(ctx, admin, flags).await
    }
    async fn more(ctx: &Context, admin: &Admin, command: Self::More) -> CliResult {
        let Updatable::Update(u) = command;
        update::<Self, _>(ctx, admin, u).await
    }
}

impl CreatedFromBody for Volumes {
    type Request = rest::CreateNetworkVolumeRequest;
    async fn send(api: &AdminClient, request: Self::Request) -> runpod::Result<Self::Item> {
        api.network_volumes().create_from(request).send().await
    }
}

impl Changed for Volumes {
    type Request = rest::UpdateNetworkVolumeRequest;
    async fn send(
        api: &AdminClient,
        id: &str,
        request: Self::Request,
    ) -> runpod::Result<Self::Item> {
        api.network_volumes()
            .update(id)
            .set_body(request)
            .send()
            .await
    }
}

pub(crate) struct Registries;

impl Kind for Registries {
    const ONE: &'static str = "registry";
    const MANY: &'static str = "registries";
    const LIST_AT: &'static str = "/registries";
    const COLUMNS: &'static [Column] = &[
        text("ID", |v| at(v, "/id")),
        text("NAME", |v| at(v, "/name")),
    ];
    type List = rest::ListRegistriesResponse;
    type Item = rest::Registry;
    type Create = RegistryCreate;
    type More = NoMore;

    async fn list(api: &AdminClient) -> runpod::Result<Self::List> {
        api.registries().list().send().await
    }
    async fn get(api: &AdminClient, id: &str) -> runpod::Result<Self::Item> {
        api.registries().get(id).send().await
    }
    async fn delete(api: &AdminClient, id: &str) -> runpod::Result<()> {
        api.registries().delete(id).send().await.map(drop)
    }
    async fn create(ctx: &Context, admin: &Admin, flags: RegistryCreate) -> CliResult {
        let password = input::secret("Registry password (input hidden): ", "password")?;
        let doing = admin.doing(format!("create registry {}", flags.name));
        let created = admin
            .client
            .registries()
            .create(&flags.name, flags.username, password)
            .send()
            .await
            .map_err(doing.err())?;
        ctx.out.object(&created)
    }
    async fn more(_: &Context, _: &Admin, command: NoMore) -> CliResult {
        match command {}
    }
}

impl Flags for TemplateCreate {
    fn body(&self) -> &BodyArg {
        &self.body
    }
    fn apply(self, fields: &mut Fields) {
        fields.set("name", self.name);
        fields.container(self.container);
        if self.serverless {
            fields.set("serverless", Some(true));
        }
    }
}

impl Flags for NamedContainer {
    fn body(&self) -> &BodyArg {
        &self.body
    }
    fn apply(self, fields: &mut Fields) {
        fields.set("name", self.name);
        fields.container(self.container);
    }
}

impl Flags for EndpointFields {
    fn body(&self) -> &BodyArg {
        &self.body
    }
    fn apply(self, fields: &mut Fields) {
        fields.set("name", self.name);
        fields.endpoint_shape(self.shape);
    }
}

impl Flags for EndpointCreate {
    fn body(&self) -> &BodyArg {
        &self.body
    }
    fn apply(self, fields: &mut Fields) {
        match self.kind {
            Some(EndpointKindArg::LoadBalancer) => fields.set("type", Some("LOAD_BALANCER")),
            Some(EndpointKindArg::Queue) => fields.set("type", Some("QUEUE")),
            None => {}
        }
        if let Some(n) = self.request_count {
            fields.set(
                "scaling",
                Some(json!({"type": "REQUEST_COUNT", "requestCount": n})),
            );
        }
        fields.set("name", self.name);
        fields.endpoint_shape(self.shape);
    }
}

impl Flags for VolumeCreate {
    fn body(&self) -> &BodyArg {
        &self.body
    }
    fn apply(self, fields: &mut Fields) {
        fields.set("name", self.name);
        fields.set("dataCenter", self.data_center);
        fields.set("size", self.size);
    }
}

impl Flags for VolumeUpdate {
    fn body(&self) -> &BodyArg {
        &self.body
    }
    fn apply(self, fields: &mut Fields) {
        fields.set("name", self.name);
        fields.set("size", self.size);
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
    let mut table = Table::new(columns.iter().map(|c| c.header));
    for (i, column) in columns.iter().enumerate() {
        table = table.kind(i, column.kind);
    }
    for item in items {
        table.push(columns.iter().map(|c| (c.read)(item)));
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

    /// The `name` the body has so far, for messages.
    fn name(&self) -> &str {
        self.body
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
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
            let reason = e
                .decode_reason()
                .map_or_else(|| e.to_string(), str::to_owned);
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
