//! Prints the codegen model as Rust source text (formatted later by prettyplease).

use std::fmt::Write as _;

use super::ir::{Alias, Field, Item, Items, StrEnum, Struct, Ty, Union};

/// Doc comment lines for `text`, made safe for rustdoc: fenced blocks become `text` blocks and
/// indentation is dropped, so that no description is ever compiled as a doctest.
pub(crate) fn doc(text: Option<&str>, indent: &str) -> String {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return String::new();
    };
    let mut out = String::new();
    let mut in_fence = false;
    for line in text.lines() {
        let trimmed = line.trim();
        let line = if let Some(lang) = trimmed.strip_prefix("```") {
            in_fence = !in_fence;
            if in_fence && lang.trim() != "text" {
                "```text"
            } else if in_fence {
                trimmed
            } else {
                "```"
            }
        } else if in_fence {
            line.trim_end()
        } else {
            trimmed
        };
        if line.is_empty() {
            let _ = writeln!(out, "{indent}///");
        } else {
            let _ = writeln!(out, "{indent}/// {line}");
        }
    }
    if in_fence {
        let _ = writeln!(out, "{indent}/// ```");
    }
    out
}

pub(crate) fn ty(t: &Ty) -> String {
    match t {
        Ty::String => "String".to_owned(),
        Ty::I32 => "i32".to_owned(),
        Ty::I64 => "i64".to_owned(),
        Ty::F64 => "f64".to_owned(),
        Ty::Bool => "bool".to_owned(),
        Ty::Value => "serde_json::Value".to_owned(),
        Ty::Object => "serde_json::Map<String, serde_json::Value>".to_owned(),
        Ty::Vec(inner) => format!("Vec<{}>", ty(inner)),
        Ty::Map(inner) => format!("std::collections::BTreeMap<String, {}>", ty(inner)),
        Ty::Named(n) => n.clone(),
    }
}

fn field_ty(f: &Field) -> String {
    let inner = f.generic.clone().unwrap_or_else(|| ty(&f.ty));
    if f.required && !f.nullable {
        inner
    } else {
        format!("Option<{inner}>")
    }
}

/// An optional property of any JSON value: `null` is one of its values, so a `null` sent is
/// kept (`Some(Value::Null)`) and sent back, and only a missing key is `None`.
fn keeps_null(f: &Field) -> bool {
    !f.required && f.ty == Ty::Value
}

fn extra_ty(t: &Ty) -> String {
    match t {
        Ty::Value => ty(&Ty::Object),
        other => ty(&Ty::Map(Box::new(other.clone()))),
    }
}

/// Rust string literal for `s`.
fn lit(s: &str) -> String {
    format!("{s:?}")
}

pub(crate) fn items(items: &Items) -> String {
    let mut out = String::new();
    for item in items.values() {
        match item {
            Item::Struct(s) => emit_struct(&mut out, s),
            Item::Enum(e) => emit_enum(&mut out, e),
            Item::Union(u) => emit_union(&mut out, u),
            Item::Alias(a) => emit_alias(&mut out, a),
        }
    }
    out
}

/// Fields whose values must never reach logs: environments (keys shown, values hidden) and
/// credentials (hidden whole).
fn redaction(ident: &str) -> Option<&'static str> {
    match ident {
        "env" => Some("RedactedValues"),
        "password" | "access_secret" | "secret_access_key" | "api_key" | "token" => Some("Hidden"),
        _ => None,
    }
}

/// A struct with a field that [`redaction`] hides gets a hand-written `Debug`.
fn redacts_env(s: &Struct) -> bool {
    s.fields.iter().any(|f| redaction(&f.ident).is_some())
}

fn emit_struct(out: &mut String, s: &Struct) {
    out.push_str(&doc(s.doc.as_deref(), ""));
    let debug = if redacts_env(s) { "" } else { "Debug, " };
    let _ = writeln!(
        out,
        "#[derive({debug}Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]"
    );
    let generics = s.generics();
    if generics.is_empty() {
        let _ = writeln!(out, "pub struct {} {{", s.name);
    } else {
        let bound = |tr: &str| {
            generics
                .iter()
                .map(|g| format!("{g}: {tr}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "#[serde(bound(serialize = {}, deserialize = {}))]",
            lit(&bound("serde::Serialize")),
            lit(&bound("serde::Deserialize<'de>"))
        );
        let params: Vec<String> = generics
            .iter()
            .map(|g| format!("{g} = serde_json::Value"))
            .collect();
        let _ = writeln!(out, "pub struct {}<{}> {{", s.name, params.join(", "));
    }
    for f in &s.fields {
        out.push_str(&doc(f.doc.as_deref(), "    "));
        let mut attrs = Vec::new();
        if f.ident != f.wire {
            attrs.push(format!("rename = {}", lit(&f.wire)));
        }
        if !f.required {
            attrs.push("default".to_owned());
            if keeps_null(f) {
                attrs.push("deserialize_with = \"crate::nulls::present\"".to_owned());
            }
            attrs.push("skip_serializing_if = \"Option::is_none\"".to_owned());
        } else if f.nullable {
            // Required but nullable: `null` must still be sent, so never skipped.
            attrs.push("default".to_owned());
        }
        if !attrs.is_empty() {
            let _ = writeln!(out, "    #[serde({})]", attrs.join(", "));
        }
        let _ = writeln!(out, "    pub {}: {},", f.ident, field_ty(f));
    }
    if let Some(extra) = &s.extra {
        out.push_str("    /// Keys this version of the schema does not name, kept so that they round-trip.\n");
        out.push_str("    #[serde(flatten)]\n");
        let _ = writeln!(out, "    pub extra: {},", extra_ty(extra));
    }
    out.push_str("}\n\n");
    if redacts_env(s) {
        let _ = writeln!(out, "impl std::fmt::Debug for {} {{", s.name);
        out.push_str("    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {\n");
        let _ = writeln!(out, "        f.debug_struct({})", lit(&s.name));
        for f in &s.fields {
            if let Some(wrapper) = redaction(&f.ident) {
                let _ = writeln!(
                    out,
                    "            .field({}, &crate::redact::{wrapper}(&self.{}))",
                    lit(&f.ident),
                    f.ident
                );
            } else {
                let _ = writeln!(
                    out,
                    "            .field({}, &self.{})",
                    lit(&f.ident),
                    f.ident
                );
            }
        }
        if s.extra.is_some() {
            out.push_str("            .field(\"extra\", &self.extra)\n");
        }
        out.push_str("            .finish()\n    }\n}\n\n");
    }
}

fn emit_enum(out: &mut String, e: &StrEnum) {
    let name = &e.name;
    out.push_str(&doc(e.doc.as_deref(), ""));
    out.push_str("///\n/// Open: a value this version does not know is kept in `Unknown` and sent back unchanged.\n");
    out.push_str("#[derive(Debug, Clone, PartialEq, Eq, Hash)]\n#[non_exhaustive]\n");
    let _ = writeln!(out, "pub enum {name} {{");
    for (wire, ident) in &e.variants {
        let _ = writeln!(out, "    /// `{wire}`.\n    {ident},");
    }
    out.push_str(
        "    /// A value this version of the schema does not name.\n    Unknown(String),\n}\n\n",
    );

    let _ = writeln!(out, "impl {name} {{");
    out.push_str(
        "    /// The wire value.\n    pub fn as_str(&self) -> &str {\n        match self {\n",
    );
    for (wire, ident) in &e.variants {
        let _ = writeln!(out, "            Self::{ident} => {},", lit(wire));
    }
    out.push_str("            Self::Unknown(s) => s,\n        }\n    }\n}\n\n");

    let first = &e.variants[0].1;
    let _ = writeln!(
        out,
        "impl Default for {name} {{\n    fn default() -> Self {{\n        Self::{first}\n    }}\n}}\n"
    );
    let _ = writeln!(
        out,
        "impl std::fmt::Display for {name} {{\n    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{\n        f.write_str(self.as_str())\n    }}\n}}\n"
    );
    let arms = |out: &mut String, fallback: &str| {
        for (wire, ident) in &e.variants {
            let _ = writeln!(out, "            {} => Self::{ident},", lit(wire));
        }
        let _ = writeln!(out, "            _ => Self::Unknown({fallback}),");
    };
    let _ = writeln!(
        out,
        "impl From<&str> for {name} {{\n    fn from(s: &str) -> Self {{\n        match s {{"
    );
    arms(out, "s.to_owned()");
    out.push_str("        }\n    }\n}\n\n");
    let _ = writeln!(
        out,
        "impl From<String> for {name} {{\n    fn from(s: String) -> Self {{\n        match s.as_str() {{"
    );
    arms(out, "s");
    out.push_str("        }\n    }\n}\n\n");
    let _ = writeln!(
        out,
        "impl serde::Serialize for {name} {{\n    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {{\n        serializer.serialize_str(self.as_str())\n    }}\n}}\n"
    );
    let _ = writeln!(
        out,
        "impl<'de> serde::Deserialize<'de> for {name} {{\n    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {{\n        String::deserialize(deserializer).map(Self::from)\n    }}\n}}\n"
    );
}

fn emit_union(out: &mut String, u: &Union) {
    let name = &u.name;
    out.push_str(&doc(u.doc.as_deref(), ""));
    match &u.discriminator {
        Some((prop, _)) => {
            let _ = writeln!(
                out,
                "///\n/// Chosen by the `{prop}` property; a body with a `{prop}` this version does not know is kept whole in `Unknown`."
            );
        }
        None => {
            out.push_str("///\n/// The first variant the body decodes as; a body matching none is kept whole in `Unknown`.\n");
        }
    }
    out.push_str("#[derive(Debug, Clone, PartialEq, serde::Serialize)]\n#[serde(untagged)]\n#[non_exhaustive]\n");
    let _ = writeln!(out, "pub enum {name} {{");
    for (ident, t) in &u.variants {
        let _ = writeln!(out, "    /// [`{t}`].\n    {ident}({t}),");
    }
    out.push_str("    /// A body this version of the schema does not describe.\n    Unknown(serde_json::Value),\n}\n\n");

    let first = &u.variants[0];
    let _ = writeln!(
        out,
        "impl Default for {name} {{\n    fn default() -> Self {{\n        Self::{}({}::default())\n    }}\n}}\n",
        first.0, first.1
    );

    let _ = writeln!(out, "impl<'de> serde::Deserialize<'de> for {name} {{");
    out.push_str("    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {\n");
    out.push_str("        let value = serde_json::Value::deserialize(deserializer)?;\n");
    match &u.discriminator {
        Some((prop, mapping)) => {
            let _ = writeln!(
                out,
                "        let tag = value.get({}).and_then(serde_json::Value::as_str).map(str::to_owned);",
                lit(prop)
            );
            out.push_str("        match tag.as_deref() {\n");
            for (tag, ident) in mapping {
                let _ = writeln!(
                    out,
                    "            Some({}) => serde_json::from_value(value).map(Self::{ident}).map_err(serde::de::Error::custom),",
                    lit(tag)
                );
            }
            out.push_str("            _ => Ok(Self::Unknown(value)),\n        }\n");
        }
        None => {
            for (ident, t) in &u.variants {
                let _ = writeln!(
                    out,
                    "        if let Ok(v) = serde_json::from_value::<{t}>(value.clone()) {{\n            return Ok(Self::{ident}(v));\n        }}"
                );
            }
            out.push_str("        Ok(Self::Unknown(value))\n");
        }
    }
    out.push_str("    }\n}\n\n");
}

/// The `OPERATIONS` table of a REST module.
pub(crate) fn operations(ops: &[super::openapi::Operation]) -> String {
    let mut out = String::from(
        "/// Every operation of the REST API, sorted by operation id.\npub const OPERATIONS: &[crate::rest::RestOperation] = &[\n",
    );
    for op in ops {
        let _ = writeln!(
            out,
            "    crate::rest::RestOperation {{ operation_id: {}, method: {}, path: {}, tag: {}, summary: {} }},",
            lit(&op.operation_id),
            lit(&op.method),
            lit(&op.path),
            lit(&op.tag),
            lit(&op.summary)
        );
    }
    out.push_str("];\n");
    out
}

/// The serverless `Route` enum and its table methods.
pub(crate) fn routes(routes: &[super::openapi::RouteDef]) -> String {
    let mut out = String::from(
        "/// A route of the queue API (client side) or the worker protocol (worker side).\n///\n/// One table for the client, the worker runtime and runpod-local; paths are relative to the\n/// serverless base URL (`https://api.runpod.ai/v2`).\n#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\n#[non_exhaustive]\npub enum Route {\n",
    );
    for r in routes {
        let _ = writeln!(
            out,
            "    /// `{} {}`: {}\n    {},",
            r.methods.join("|"),
            r.path,
            r.summary,
            r.ident
        );
    }
    out.push_str("}\n\nimpl Route {\n");
    let _ = writeln!(
        out,
        "    /// Every route, in the schema's order (client side first).\n    pub const ALL: [Route; {}] = [{}];\n",
        routes.len(),
        routes
            .iter()
            .map(|r| format!("Route::{}", r.ident))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let method = |out: &mut String,
                  doc: &str,
                  sig: &str,
                  arm: &dyn Fn(&super::openapi::RouteDef) -> String| {
        let _ = writeln!(
            out,
            "    /// {doc}\n    pub const fn {sig} {{\n        match self {{"
        );
        for r in routes {
            let _ = writeln!(out, "            Route::{} => {},", r.ident, arm(r));
        }
        out.push_str("        }\n    }\n\n");
    };
    method(
        &mut out,
        "The schema's `operationId` (`jobTakeBatch`).",
        "name(self) -> &'static str",
        &|r| lit(&r.operation_id),
    );
    method(
        &mut out,
        "The HTTP methods served, upper case; the first is the one clients and workers send.",
        "methods(self) -> &'static [&'static str]",
        &|r| {
            format!(
                "&[{}]",
                r.methods
                    .iter()
                    .map(|m| lit(m))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    );
    method(
        &mut out,
        "The path template below the serverless base URL (`/{endpoint_id}/status/{job_id}`).",
        "path(self) -> &'static str",
        &|r| lit(&r.path),
    );
    method(
        &mut out,
        "The literal path segment after the endpoint id (`status`), also the route's name in `--fault` rules.",
        "segment(self) -> &'static str",
        &|r| lit(&r.segment),
    );
    method(
        &mut out,
        "Who calls the route.",
        "side(self) -> crate::serverless::Side",
        &|r| format!("crate::serverless::Side::{}", r.side),
    );
    method(
        &mut out,
        "The route's position in [`Route::ALL`], for tables indexed by route.",
        "index(self) -> usize",
        &|r| {
            routes
                .iter()
                .position(|x| x.ident == r.ident)
                .unwrap_or_default()
                .to_string()
        },
    );
    out.push_str("}\n");
    out
}

fn emit_alias(out: &mut String, a: &Alias) {
    out.push_str(&doc(a.doc.as_deref(), ""));
    let _ = writeln!(out, "pub type {} = {};\n", a.name, ty(&a.ty));
}

#[cfg(test)]
mod tests {
    use super::doc;

    #[test]
    fn docs_never_become_doctests() {
        let text = "Intro.\n\n```\nlet x = 1;\n```\n\n    indented code\n```json\n{}";
        assert_eq!(
            doc(Some(text), ""),
            "/// Intro.\n///\n/// ```text\n/// let x = 1;\n/// ```\n///\n/// indented code\n/// ```text\n/// {}\n/// ```\n"
        );
        assert_eq!(doc(Some("  "), ""), "");
        assert_eq!(doc(None, "    "), "");
    }
}
