//! OpenAPI `components.schemas` → codegen model.
//!
//! The tree is a `serde_yaml::Value` because its mappings keep document order, so struct fields
//! come out in the order the schema lists them (the REST file is stored with sorted keys).

use anyhow::{Context, Result, bail};
use serde_yaml::{Mapping, Value};

use super::ir::{Alias, Field, Item, Items, StrEnum, Struct, Ty, Union};
use super::naming::{nested, snake, upper_camel, words as words_of};

/// Builds every `components.schemas` entry of `spec` (plus the named types inline enums and
/// objects need).
pub(crate) fn build(spec: &Value) -> Result<Items> {
    let schemas = spec
        .get("components")
        .and_then(|c| c.get("schemas"))
        .and_then(Value::as_mapping)
        .context("the spec has no components.schemas")?;
    let mut b = Builder {
        schemas,
        items: Items::new(),
    };
    for (name, schema) in schemas {
        let name = name.as_str().context("a schema name is not a string")?;
        b.component(name, schema)
            .with_context(|| format!("schema {name}"))?;
    }
    Ok(b.items)
}

/// One operation of the spec's `paths`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Operation {
    pub(crate) operation_id: String,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) tag: String,
    pub(crate) summary: String,
}

/// Every operation under `paths`, sorted by operationId.
pub(crate) fn operations(spec: &Value) -> Result<Vec<Operation>> {
    let paths = spec
        .get("paths")
        .and_then(Value::as_mapping)
        .context("the spec has no paths")?;
    let mut out = Vec::new();
    for (path, item) in paths {
        let path = path.as_str().context("a path is not a string")?;
        let Some(item) = item.as_mapping() else {
            continue;
        };
        for (method, op) in item {
            let method = method.as_str().unwrap_or_default();
            if !["get", "put", "post", "delete", "patch", "head", "options"].contains(&method) {
                continue;
            }
            let operation_id = s(op, "operationId")
                .with_context(|| format!("{method} {path} has no operationId"))?;
            let tag = op
                .get("tags")
                .and_then(|t| t.get(0))
                .and_then(Value::as_str)
                .unwrap_or_default();
            out.push(Operation {
                operation_id: operation_id.to_owned(),
                method: method.to_ascii_uppercase(),
                path: path.to_owned(),
                tag: tag.to_owned(),
                summary: s(op, "summary").unwrap_or_default().to_owned(),
            });
        }
    }
    out.sort();
    if let Some(w) = out
        .windows(2)
        .find(|w| w[0].operation_id == w[1].operation_id)
    {
        bail!("operationId {} is used twice", w[0].operation_id);
    }
    Ok(out)
}

/// One route of the serverless protocol (a path and its operation), for the generated
/// `Route` table that the client, the worker runtime and runpod-local share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteDef {
    /// The enum variant (`JobTakeBatch`).
    pub(crate) ident: String,
    pub(crate) operation_id: String,
    /// Upper case; the operation's own first, then `x-also-accepts`.
    pub(crate) methods: Vec<String>,
    /// The template below the server URL (`/{endpoint_id}/job-take-batch/{worker_id}`).
    pub(crate) path: String,
    /// The literal segment after the endpoint id (`job-take-batch`).
    pub(crate) segment: String,
    /// `Client` or `Worker`, from the operation's tag.
    pub(crate) side: String,
    pub(crate) summary: String,
}

/// Every route under `paths`, in document order: one operation per path, tagged `client` or
/// `worker`, with the path `/{endpoint_id}/<segment>[/…]`. Operations marked `x-route: <name>`
/// form one route together (every method they use, the path up to their shared segment): Batch
/// Jobs is nine operations under `/batch`, and one class for rate limits and faults.
pub(crate) fn routes(spec: &Value) -> Result<Vec<RouteDef>> {
    let paths = spec
        .get("paths")
        .and_then(Value::as_mapping)
        .context("the spec has no paths")?;
    let mut out: Vec<RouteDef> = Vec::new();
    for (path, item) in paths {
        let path = path.as_str().context("a path is not a string")?;
        let item = item.as_mapping().context("a path item is not a mapping")?;
        let ops: Vec<(&Value, &Value)> = item
            .iter()
            .filter(|(m, _)| {
                m.as_str()
                    .is_some_and(|m| ["get", "put", "post", "delete", "patch"].contains(&m))
            })
            .collect();
        let grouped = ops.iter().all(|(_, op)| s(op, "x-route").is_some());
        if ops.is_empty() || (ops.len() > 1 && !grouped) {
            bail!(
                "{path}: a route has exactly one operation (list more methods in x-also-accepts, \
                 or name a shared route with x-route)"
            );
        }
        for (method, op) in ops {
            let route = route_def(path, method, op)?;
            let same_segment = out.iter().any(|r| r.segment == route.segment);
            match out.iter_mut().find(|r| r.ident == route.ident) {
                Some(group) if s(op, "x-route").is_some() && group.segment == route.segment => {
                    for m in route.methods {
                        if !group.methods.contains(&m) {
                            group.methods.push(m);
                        }
                    }
                }
                Some(_) => bail!("{path}: route name {} used twice", route.ident),
                None if same_segment => {
                    bail!("{path}: route segment {} used twice", route.segment)
                }
                None => out.push(route),
            }
        }
    }
    Ok(out)
}

/// One operation as a route (before grouping).
fn route_def(path: &str, method: &Value, op: &Value) -> Result<RouteDef> {
    let operation_id =
        s(op, "operationId").with_context(|| format!("{path} has no operationId"))?;
    let side = match op
        .get("tags")
        .and_then(|t| t.get(0))
        .and_then(Value::as_str)
    {
        Some("client") => "Client",
        Some("worker") => "Worker",
        other => bail!("{path}: tag it `client` or `worker`, not {other:?}"),
    };
    let mut methods = vec![method.as_str().unwrap_or_default().to_ascii_uppercase()];
    for extra in op
        .get("x-also-accepts")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        methods.push(
            extra
                .as_str()
                .context("x-also-accepts lists method names")?
                .to_ascii_uppercase(),
        );
    }
    let segment = path
        .strip_prefix("/{endpoint_id}/")
        .and_then(|rest| rest.split('/').next())
        .filter(|seg| !seg.is_empty() && !seg.contains('{'))
        .with_context(|| format!("{path}: a route path is /{{endpoint_id}}/<segment>[/…]"))?;
    Ok(match s(op, "x-route") {
        Some(group) => RouteDef {
            ident: upper_camel(group),
            operation_id: group.to_owned(),
            methods,
            path: format!("/{{endpoint_id}}/{segment}"),
            segment: segment.to_owned(),
            side: side.to_owned(),
            summary: format!("Every `/{segment}` operation ({operation_id}, …)"),
        },
        None => RouteDef {
            ident: upper_camel(operation_id),
            operation_id: operation_id.to_owned(),
            methods,
            path: path.to_owned(),
            segment: segment.to_owned(),
            side: side.to_owned(),
            summary: s(op, "summary").unwrap_or_default().to_owned(),
        },
    })
}

struct Builder<'a> {
    schemas: &'a Mapping,
    items: Items,
}

fn s<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn description(v: &Value) -> Option<String> {
    s(v, "description")
        .or_else(|| s(v, "title"))
        .map(str::to_owned)
}

fn ref_name(v: &Value) -> Option<&str> {
    s(v, "$ref").map(|r| r.rsplit('/').next().unwrap_or(r))
}

fn is_null_schema(v: &Value) -> bool {
    s(v, "type") == Some("null")
}

/// The non-null half of `anyOf/oneOf: [X, {type: null}]`, if `v` has that shape.
fn nullable_union(v: &Value) -> Option<&Value> {
    for key in ["anyOf", "oneOf"] {
        if let Some(list) = v.get(key).and_then(Value::as_sequence) {
            let rest: Vec<&Value> = list.iter().filter(|x| !is_null_schema(x)).collect();
            if rest.len() == 1 && list.len() == 2 {
                return Some(rest[0]);
            }
        }
    }
    None
}

/// `type`, with `[X, "null"]` read as X plus a nullable flag.
fn type_of(v: &Value) -> (Option<&str>, bool) {
    let nullable = v.get("nullable").and_then(Value::as_bool).unwrap_or(false);
    match v.get("type") {
        Some(Value::String(t)) => (Some(t), nullable),
        Some(Value::Sequence(list)) => {
            let non_null: Vec<&str> = list
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect();
            let has_null = list.iter().any(|t| t.as_str() == Some("null"));
            let t = if non_null.len() == 1 {
                Some(non_null[0])
            } else {
                None
            };
            (t, nullable || has_null)
        }
        _ => (None, nullable),
    }
}

fn string_enum(v: &Value) -> Option<Vec<String>> {
    let list = v.get("enum")?.as_sequence()?;
    let values: Vec<String> = list
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    (values.len() == list.len() && !values.is_empty()).then_some(values)
}

/// JSON Schema keywords codegen knows (it reads some; the rest only validate). Anything else in a
/// schema object is an error, which catches YAML slips such as an unquoted `, ` in a flow mapping.
const KEYWORDS: &[&str] = &[
    "$ref",
    "additionalProperties",
    "allOf",
    "anyOf",
    "const",
    "default",
    "deprecated",
    "dependentRequired",
    "description",
    "discriminator",
    "else",
    "enum",
    "example",
    "examples",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "externalDocs",
    "format",
    "if",
    "items",
    "maxItems",
    "maxLength",
    "maxProperties",
    "maximum",
    "minItems",
    "minLength",
    "minProperties",
    "minimum",
    "multipleOf",
    "not",
    "nullable",
    "oneOf",
    "pattern",
    "properties",
    "readOnly",
    "required",
    "then",
    "title",
    "type",
    "unevaluatedProperties",
    "uniqueItems",
    "writeOnly",
];

fn check_keys(v: &Value) -> Result<()> {
    let map = v.as_mapping().context("a schema is not an object")?;
    for key in map.keys() {
        let key = key.as_str().context("a schema key is not a string")?;
        if !KEYWORDS.contains(&key) && !key.starts_with("x-") {
            bail!("unknown schema keyword `{key}` (a typo, or YAML that did not parse as meant?)");
        }
    }
    if v.get("const").is_some() {
        bail!("`const` is not supported; use a one-value `enum`");
    }
    Ok(())
}

/// Variant names for a `oneOf` of `types`: the words every type name shares with the union's
/// name at the end are dropped (`QueueDelayScaling` in `EndpointScaling` → `QueueDelay`).
fn union_variants(name: &str, types: &[String]) -> Vec<(String, String)> {
    let split = |s: &str| -> Vec<String> { words_of(s) };
    let union_words = split(name);
    let type_words: Vec<Vec<String>> = types.iter().map(|t| split(t)).collect();
    let mut common = 0;
    'grow: loop {
        let n = common + 1;
        if n > union_words.len() {
            break;
        }
        let want = &union_words[union_words.len() - n];
        for w in &type_words {
            if w.len() <= n || &w[w.len() - n] != want {
                break 'grow;
            }
        }
        common = n;
    }
    types
        .iter()
        .zip(&type_words)
        .map(|(t, w)| (upper_camel(&w[..w.len() - common].join("_")), t.clone()))
        .collect()
}

fn is_objectish(v: &Value) -> bool {
    v.get("properties").is_some() || v.get("allOf").is_some()
}

/// The properties, `required` list and `additionalProperties` of an object, with `allOf` merged.
#[derive(Default)]
struct Merged {
    props: Vec<(String, Value)>,
    required: Vec<String>,
    additional: Option<Value>,
    doc: Option<String>,
}

impl Builder<'_> {
    fn resolve(&self, name: &str) -> Result<&Value> {
        self.schemas
            .get(name)
            .with_context(|| format!("unknown $ref {name}"))
    }

    fn merge(&self, v: &Value, into: &mut Merged, depth: usize) -> Result<()> {
        if depth > 16 {
            bail!("allOf nests too deep");
        }
        check_keys(v)?;
        if into.doc.is_none() {
            into.doc = description(v);
        }
        if let Some(name) = ref_name(v) {
            return self.merge(self.resolve(name)?, into, depth + 1);
        }
        if let Some(parts) = v.get("allOf").and_then(Value::as_sequence) {
            for part in parts {
                self.merge(part, into, depth + 1)?;
            }
        }
        if let Some(props) = v.get("properties").and_then(Value::as_mapping) {
            for (k, pv) in props {
                let k = k
                    .as_str()
                    .context("a property name is not a string")?
                    .to_owned();
                match into.props.iter_mut().find(|(name, _)| *name == k) {
                    // A later allOf part narrows an earlier one: the last word wins.
                    Some(slot) => slot.1 = pv.clone(),
                    None => into.props.push((k, pv.clone())),
                }
            }
        }
        if let Some(req) = v.get("required").and_then(Value::as_sequence) {
            for r in req.iter().filter_map(Value::as_str) {
                if !into.required.iter().any(|x| x == r) {
                    into.required.push(r.to_owned());
                }
            }
        }
        if let Some(ap) = v.get("additionalProperties") {
            into.additional = Some(ap.clone());
        }
        Ok(())
    }

    fn add(&mut self, name: &str, item: Item) -> Result<()> {
        if self.items.insert(name.to_owned(), item).is_some() {
            bail!("two types are named {name}; rename one in the generator");
        }
        Ok(())
    }

    fn component(&mut self, name: &str, v: &Value) -> Result<()> {
        check_keys(v)?;
        if let Some(values) = string_enum(v) {
            return self.enumeration(name, description(v), &values);
        }
        if let Some(list) = v.get("oneOf").filter(|_| nullable_union(v).is_none()) {
            return self.union(name, v, list);
        }
        let (t, _) = type_of(v);
        if is_objectish(v) || (t == Some("object") && v.get("additionalProperties").is_none()) {
            return self.structure(name, v);
        }
        let ty = self.ty(v, name, "")?.0;
        self.add(
            name,
            Item::Alias(Alias {
                name: name.to_owned(),
                doc: description(v),
                ty,
            }),
        )
    }

    fn enumeration(&mut self, name: &str, doc: Option<String>, values: &[String]) -> Result<()> {
        let mut variants: Vec<(String, String)> = Vec::new();
        for v in values {
            let mut ident = upper_camel(v);
            if ident == "Unknown" {
                // The catch-all `Unknown(String)` owns that name.
                ident.push_str("Value");
            }
            while variants.iter().any(|(_, i)| *i == ident) {
                ident.push('_');
            }
            variants.push((v.clone(), ident));
        }
        self.add(
            name,
            Item::Enum(StrEnum {
                name: name.to_owned(),
                doc,
                variants,
            }),
        )
    }

    fn union(&mut self, name: &str, v: &Value, list: &Value) -> Result<()> {
        let mut types = Vec::new();
        for x in list.as_sequence().context("oneOf is not a list")? {
            types.push(
                ref_name(x)
                    .context("only oneOf of $refs is supported")?
                    .to_owned(),
            );
        }
        let variants = union_variants(name, &types);
        let discriminator = match v.get("discriminator") {
            None => None,
            Some(d) => {
                let prop = s(d, "propertyName").context("discriminator without propertyName")?;
                let mapping = d.get("mapping").and_then(Value::as_mapping).context(
                    "discriminator without mapping (implicit mappings are not supported)",
                )?;
                let mut tags = Vec::new();
                for (tag, target) in mapping {
                    let tag = tag.as_str().context("discriminator tag")?;
                    let target = target.as_str().context("discriminator target")?;
                    let target = target.rsplit('/').next().unwrap_or(target);
                    let ident = variants
                        .iter()
                        .find(|(_, t)| t == target)
                        .map(|(i, _)| i.clone())
                        .with_context(|| format!("discriminator maps to {target}, not in oneOf"))?;
                    tags.push((tag.to_owned(), ident));
                }
                Some((prop.to_owned(), tags))
            }
        };
        self.add(
            name,
            Item::Union(Union {
                name: name.to_owned(),
                doc: description(v),
                variants,
                discriminator,
            }),
        )
    }

    fn structure(&mut self, name: &str, v: &Value) -> Result<()> {
        let mut m = Merged::default();
        self.merge(v, &mut m, 0)?;
        let mut fields: Vec<Field> = Vec::new();
        for (wire, pv) in &m.props {
            let (ty, nullable) = self
                .ty(pv, name, wire)
                .with_context(|| format!("property {wire}"))?;
            let mut ident = snake(wire);
            while fields.iter().any(|f| f.ident == ident) || ident == "extra" {
                ident.push('_');
            }
            let generic = match pv.get("x-rust-generic") {
                None => None,
                Some(Value::String(param)) if ty == Ty::Value => Some(param.clone()),
                Some(_) => bail!(
                    "property {wire}: `x-rust-generic` takes a type parameter name and fits only \
                     a property of any JSON value"
                ),
            };
            fields.push(Field {
                wire: wire.clone(),
                ident,
                ty,
                required: m.required.contains(wire),
                nullable,
                generic,
                doc: description(pv),
            });
        }
        let extra = match &m.additional {
            Some(Value::Bool(true)) => Some(Ty::Value),
            Some(ap @ Value::Mapping(map)) if !map.is_empty() => {
                Some(self.ty(ap, name, "extra")?.0)
            }
            Some(Value::Mapping(_)) => Some(Ty::Value),
            _ => None,
        };
        self.add(
            name,
            Item::Struct(Struct {
                name: name.to_owned(),
                doc: m.doc,
                fields,
                extra,
            }),
        )
    }

    /// The type of a property `prop` of `parent` (or of a whole schema when `prop` is empty).
    fn ty(&mut self, v: &Value, parent: &str, prop: &str) -> Result<(Ty, bool)> {
        check_keys(v)?;
        if let Some(name) = ref_name(v) {
            let (_, nullable) = type_of(v);
            return Ok((Ty::Named(name.to_owned()), nullable));
        }
        if let Some(inner) = nullable_union(v) {
            return Ok((self.ty(inner, parent, prop)?.0, true));
        }
        if v.get("allOf")
            .and_then(Value::as_sequence)
            .is_some_and(|l| l.len() == 1)
            && v.get("properties").is_none()
        {
            // `allOf: [$ref]` is how a description is attached to a reference.
            let (_, nullable) = type_of(v);
            let (ty, inner_nullable) = self.ty(&v["allOf"][0], parent, prop)?;
            return Ok((ty, nullable || inner_nullable));
        }
        let (t, nullable) = type_of(v);
        let named = if prop.is_empty() {
            parent.to_owned()
        } else {
            nested(parent, prop)
        };
        if let Some(values) = string_enum(v) {
            self.enumeration(&named, description(v), &values)?;
            return Ok((Ty::Named(named), nullable));
        }
        if v.get("anyOf").is_some() || v.get("oneOf").is_some() {
            // A union that is not merely nullable: kept as raw JSON rather than guessed.
            return Ok((Ty::Value, nullable));
        }
        let ty = match t {
            Some("string") => Ty::String,
            Some("integer") => match s(v, "format") {
                Some("int32") => Ty::I32,
                _ => Ty::I64,
            },
            Some("number") => Ty::F64,
            Some("boolean") => Ty::Bool,
            Some("array") => {
                let items = v.get("items").context("array without items")?;
                let item_prop = match prop.strip_suffix('s') {
                    Some(single) if !single.is_empty() => single.to_owned(),
                    _ => format!("{prop}Item"),
                };
                Ty::Vec(Box::new(self.ty(items, parent, &item_prop)?.0))
            }
            _ if is_objectish(v) => {
                self.structure(&named, v)?;
                Ty::Named(named)
            }
            Some("object") | None if v.get("additionalProperties").is_some() => {
                match v.get("additionalProperties") {
                    Some(ap @ Value::Mapping(map)) if !map.is_empty() => {
                        let value_prop = format!("{prop}Value");
                        Ty::Map(Box::new(self.ty(ap, parent, &value_prop)?.0))
                    }
                    _ => Ty::Object,
                }
            }
            Some("object") => Ty::Object,
            None => Ty::Value,
            Some(other) => bail!("unsupported type {other}"),
        };
        Ok((ty, nullable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codegen::emit;

    fn build_yaml(schemas: &str) -> Result<Items> {
        let indented: String = schemas.lines().map(|l| format!("    {l}\n")).collect();
        let spec: Value =
            serde_yaml::from_str(&format!("components:\n  schemas:\n{indented}")).unwrap();
        build(&spec)
    }

    fn strukt<'a>(items: &'a Items, name: &str) -> &'a Struct {
        match items.get(name) {
            Some(Item::Struct(s)) => s,
            other => panic!("{name}: {other:?}"),
        }
    }

    fn field<'a>(s: &'a Struct, wire: &str) -> &'a Field {
        s.fields.iter().find(|f| f.wire == wire).unwrap()
    }

    #[test]
    fn nullable_forms_become_options() {
        let items = build_yaml(
            "Ref: { type: object, properties: { a: { type: string } } }
A:
  type: object
  required: [list, any, plain]
  properties:
    list: { type: [integer, 'null'] }
    any: { anyOf: [{ $ref: '#/components/schemas/Ref' }, { type: 'null' }] }
    plain: { type: string }
    old: { type: string, nullable: true }",
        )
        .unwrap();
        let a = strukt(&items, "A");
        assert!(field(a, "list").nullable && field(a, "list").ty == Ty::I64);
        assert!(field(a, "any").nullable && field(a, "any").ty == Ty::Named("Ref".into()));
        assert!(!field(a, "plain").nullable);
        assert!(field(a, "old").nullable);
        let code = emit::items(&items);
        // Required but nullable: kept on the wire as `null`, never skipped.
        assert!(
            code.contains("#[serde(default)]\n    pub list: Option<i64>,"),
            "{code}"
        );
        assert!(code.contains("    pub plain: String,"), "{code}");
    }

    #[test]
    fn all_of_merges_parts_and_later_parts_win() {
        let items = build_yaml(
            "Base:
  type: object
  required: [id]
  properties: { id: { type: string }, size: { type: integer } }
Child:
  allOf:
    - $ref: '#/components/schemas/Base'
    - type: object
      required: [size]
      properties: { size: { type: integer, format: int32 }, extra: { type: boolean } }",
        )
        .unwrap();
        let c = strukt(&items, "Child");
        let names: Vec<&str> = c.fields.iter().map(|f| f.ident.as_str()).collect();
        // `extra` would clash with the catch-all map's name.
        assert_eq!(names, ["id", "size", "extra_"]);
        assert!(field(c, "size").required && field(c, "size").ty == Ty::I32);
    }

    #[test]
    fn inline_enums_and_objects_get_parent_prop_names() {
        let items = build_yaml(
            "Pod:
  type: object
  properties:
    state: { type: string, enum: [up, down] }
    gpuIds: { type: array, items: { type: string, enum: [A100, H100] } }
    limits: { type: object, properties: { cpu: { type: number } } }
    labels: { type: object, additionalProperties: { type: string } }
    free: { type: object }",
        )
        .unwrap();
        assert!(matches!(items.get("PodState"), Some(Item::Enum(_))));
        assert!(matches!(items.get("PodGpuId"), Some(Item::Enum(_))));
        assert!(matches!(items.get("PodLimits"), Some(Item::Struct(_))));
        let p = strukt(&items, "Pod");
        assert_eq!(field(p, "labels").ty, Ty::Map(Box::new(Ty::String)));
        assert_eq!(field(p, "free").ty, Ty::Object);
    }

    #[test]
    fn unknown_keywords_are_errors() {
        // What an unquoted ", " in a YAML flow mapping produces.
        let err = build_yaml(
            "A: { type: object, properties: { w: { type: string, description: a, b. } } }",
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown schema keyword `b.`"),
            "{err:#}"
        );
    }

    #[test]
    fn union_variant_names_drop_the_shared_suffix() {
        let v = union_variants(
            "EndpointScaling",
            &["QueueDelayScaling".into(), "RequestCountScaling".into()],
        );
        assert_eq!(v[0].0, "QueueDelay");
        assert_eq!(v[1].0, "RequestCount");
        let v = union_variants("Shape", &["Circle".into(), "Square".into()]);
        assert_eq!(v[0].0, "Circle");
    }

    #[test]
    fn enum_value_unknown_does_not_clash_with_the_catch_all() {
        let items = build_yaml("M: { type: string, enum: [NVIDIA, UNKNOWN] }").unwrap();
        let Some(Item::Enum(e)) = items.get("M") else {
            panic!()
        };
        assert_eq!(
            e.variants[1],
            ("UNKNOWN".to_owned(), "UnknownValue".to_owned())
        );
    }
}
