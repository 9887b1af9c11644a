//! The language-neutral model codegen builds from a schema before printing Rust.

use std::collections::BTreeMap;

/// A field or alias type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ty {
    String,
    I32,
    I64,
    F64,
    Bool,
    /// Any JSON value.
    Value,
    /// A JSON object with no declared shape.
    Object,
    Vec(Box<Ty>),
    /// `additionalProperties: {schema}`: string keys, typed values.
    Map(Box<Ty>),
    Named(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Field {
    /// The JSON key.
    pub(crate) wire: String,
    pub(crate) ident: String,
    pub(crate) ty: Ty,
    /// Listed in `required`.
    pub(crate) required: bool,
    /// `null` is allowed.
    pub(crate) nullable: bool,
    /// `x-rust-generic`: the field's type is this type parameter of the struct (default
    /// `serde_json::Value`), so a writer can send its own or borrowed data without a copy.
    pub(crate) generic: Option<String>,
    pub(crate) doc: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Struct {
    pub(crate) name: String,
    pub(crate) doc: Option<String>,
    pub(crate) fields: Vec<Field>,
    /// Keys not declared as properties are kept in `extra`, with values of this type.
    pub(crate) extra: Option<Ty>,
}

/// An open string enum.
#[derive(Debug, Clone)]
pub(crate) struct StrEnum {
    pub(crate) name: String,
    pub(crate) doc: Option<String>,
    /// `(wire value, variant ident)`, in schema order.
    pub(crate) variants: Vec<(String, String)>,
}

/// A `oneOf` of named object types.
#[derive(Debug, Clone)]
pub(crate) struct Union {
    pub(crate) name: String,
    pub(crate) doc: Option<String>,
    /// `(variant ident, type name)`, in schema order.
    pub(crate) variants: Vec<(String, String)>,
    /// With a discriminator: the tag property and `(tag value, variant ident)`.
    pub(crate) discriminator: Option<(String, Vec<(String, String)>)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Alias {
    pub(crate) name: String,
    pub(crate) doc: Option<String>,
    pub(crate) ty: Ty,
}

#[derive(Debug, Clone)]
pub(crate) enum Item {
    Struct(Struct),
    Enum(StrEnum),
    Union(Union),
    Alias(Alias),
}

/// Every item of one generated module, by name (so output order never depends on input order).
pub(crate) type Items = BTreeMap<String, Item>;

impl Struct {
    /// The struct's type parameters (from `x-rust-generic`), in field order, each once.
    pub(crate) fn generics(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for name in self.fields.iter().filter_map(|f| f.generic.as_deref()) {
            if !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }
}
