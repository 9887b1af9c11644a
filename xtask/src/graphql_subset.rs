//! The part of Runpod's GraphQL SDL that our operations reach.
//!
//! Object and interface types keep only the fields some operation selects; input objects, enums,
//! unions and scalars they lead to are kept whole (a server validates whole input objects), and
//! every custom scalar is kept. The result is small enough to review and still validates every
//! operation under `schema/graphql/operations/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use graphql_parser::query as q;
use graphql_parser::schema as s;

/// Where our operations live, relative to the workspace root.
pub(crate) const OPERATIONS_DIR: &str = "schema/graphql/operations";

/// `*.graphql` files under [`OPERATIONS_DIR`], sorted.
pub(crate) fn operation_files(root: &Path) -> Result<Vec<PathBuf>> {
    let dir = root.join(OPERATIONS_DIR);
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {OPERATIONS_DIR}"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "graphql") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

const BUILTIN_SCALARS: &[&str] = &["String", "Int", "Float", "Boolean", "ID"];

fn named<'a>(t: &'a s::Type<'a, String>) -> &'a str {
    match t {
        s::Type::NamedType(n) => n,
        s::Type::ListType(inner) | s::Type::NonNullType(inner) => named(inner),
    }
}

fn q_named<'a>(t: &'a q::Type<'a, String>) -> &'a str {
    match t {
        q::Type::NamedType(n) => n,
        q::Type::ListType(inner) | q::Type::NonNullType(inner) => q_named(inner),
    }
}

struct Walker<'a> {
    types: BTreeMap<&'a str, &'a s::TypeDefinition<'a, String>>,
    fragments: BTreeMap<String, q::FragmentDefinition<'a, String>>,
    /// Type name → fields selected on it (objects and interfaces).
    selected: BTreeMap<String, BTreeSet<String>>,
    /// Types kept whole.
    whole: BTreeSet<String>,
}

fn type_name(t: &s::TypeDefinition<'_, String>) -> String {
    match t {
        s::TypeDefinition::Scalar(x) => x.name.clone(),
        s::TypeDefinition::Object(x) => x.name.clone(),
        s::TypeDefinition::Interface(x) => x.name.clone(),
        s::TypeDefinition::Union(x) => x.name.clone(),
        s::TypeDefinition::Enum(x) => x.name.clone(),
        s::TypeDefinition::InputObject(x) => x.name.clone(),
    }
}

impl<'a> Walker<'a> {
    fn fields_of(&self, ty: &str) -> Result<&'a [s::Field<'a, String>]> {
        match self.types.get(ty) {
            Some(s::TypeDefinition::Object(o)) => Ok(&o.fields),
            Some(s::TypeDefinition::Interface(i)) => Ok(&i.fields),
            Some(_) => bail!("{ty} has no fields to select"),
            None => bail!("unknown type {ty}"),
        }
    }

    /// Keeps a type used as an argument, variable or leaf, whole, with what it leads to.
    fn keep_whole(&mut self, ty: &str) -> Result<()> {
        if BUILTIN_SCALARS.contains(&ty) || !self.whole.insert(ty.to_owned()) {
            return Ok(());
        }
        match self
            .types
            .get(ty)
            .with_context(|| format!("unknown type {ty}"))?
        {
            s::TypeDefinition::InputObject(io) => {
                for f in &io.fields {
                    self.keep_whole(named(&f.value_type))?;
                }
            }
            s::TypeDefinition::Union(u) => {
                for member in &u.types {
                    self.selected.entry(member.clone()).or_default();
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn selection_set(&mut self, ty: &str, set: &q::SelectionSet<'a, String>) -> Result<()> {
        self.selected.entry(ty.to_owned()).or_default();
        for sel in &set.items {
            match sel {
                q::Selection::Field(f) => {
                    if f.name == "__typename" {
                        continue;
                    }
                    let def = self
                        .fields_of(ty)?
                        .iter()
                        .find(|d| d.name == f.name)
                        .with_context(|| format!("{ty} has no field {}", f.name))?;
                    self.selected
                        .entry(ty.to_owned())
                        .or_default()
                        .insert(f.name.clone());
                    for arg in &def.arguments {
                        self.keep_whole(named(&arg.value_type))?;
                    }
                    let field_ty = named(&def.field_type);
                    if f.selection_set.items.is_empty() {
                        self.keep_whole(field_ty)?;
                    } else {
                        if let Some(s::TypeDefinition::Union(_)) = self.types.get(field_ty) {
                            self.keep_whole(field_ty)?;
                        }
                        self.selection_set(field_ty, &f.selection_set)?;
                    }
                }
                q::Selection::InlineFragment(frag) => {
                    let on = match &frag.type_condition {
                        Some(q::TypeCondition::On(name)) => name.clone(),
                        None => ty.to_owned(),
                    };
                    self.selection_set(&on, &frag.selection_set)?;
                }
                q::Selection::FragmentSpread(spread) => {
                    let frag = self
                        .fragments
                        .get(&spread.fragment_name)
                        .with_context(|| format!("unknown fragment {}", spread.fragment_name))?
                        .clone();
                    let q::TypeCondition::On(on) = &frag.type_condition;
                    self.selection_set(on, &frag.selection_set)?;
                }
            }
        }
        Ok(())
    }
}

/// The subset of `sdl` that the operations under [`OPERATIONS_DIR`] need, as SDL text.
pub(crate) fn subset(root: &Path, sdl: &str) -> Result<String> {
    let mut texts = Vec::new();
    for file in operation_files(root)? {
        let text = std::fs::read_to_string(&file)?;
        texts.push((file, text));
    }
    subset_of(sdl, texts.iter().map(|(p, t)| (p.as_path(), t.as_str())))
}

fn subset_of<'t>(
    sdl: &str,
    operations: impl Iterator<Item = (&'t Path, &'t str)>,
) -> Result<String> {
    let doc = s::parse_schema::<String>(sdl)
        .map_err(|e| anyhow::anyhow!("the SDL does not parse: {e}"))?;
    let mut roots: (String, Option<String>) = ("Query".to_owned(), Some("Mutation".to_owned()));
    let mut w = Walker {
        types: BTreeMap::new(),
        fragments: BTreeMap::new(),
        selected: BTreeMap::new(),
        whole: BTreeSet::new(),
    };
    for def in &doc.definitions {
        match def {
            s::Definition::TypeDefinition(t) => {
                let name = match t {
                    s::TypeDefinition::Scalar(x) => x.name.as_str(),
                    s::TypeDefinition::Object(x) => x.name.as_str(),
                    s::TypeDefinition::Interface(x) => x.name.as_str(),
                    s::TypeDefinition::Union(x) => x.name.as_str(),
                    s::TypeDefinition::Enum(x) => x.name.as_str(),
                    s::TypeDefinition::InputObject(x) => x.name.as_str(),
                };
                w.types.insert(name, t);
            }
            s::Definition::SchemaDefinition(sd) => {
                if let Some(query) = &sd.query {
                    roots.0 = query.clone();
                }
                roots.1 = sd.mutation.clone();
            }
            _ => {}
        }
    }

    let mut docs = Vec::new();
    for (path, text) in operations {
        let parsed = q::parse_query::<String>(text)
            .map_err(|e| anyhow::anyhow!("{} does not parse: {e}", path.display()))?;
        docs.push((path, parsed));
    }
    for (_, d) in &docs {
        for def in &d.definitions {
            if let q::Definition::Fragment(f) = def {
                w.fragments.insert(f.name.clone(), f.clone());
            }
        }
    }
    let mut uses_mutation = false;
    let no_variables = Vec::new();
    for (path, d) in &docs {
        for def in &d.definitions {
            let q::Definition::Operation(op) = def else {
                continue;
            };
            let (root, vars, set) = match op {
                q::OperationDefinition::Query(x) => {
                    (roots.0.clone(), &x.variable_definitions, &x.selection_set)
                }
                q::OperationDefinition::SelectionSet(x) => (roots.0.clone(), &no_variables, x),
                q::OperationDefinition::Mutation(x) => {
                    uses_mutation = true;
                    let root = roots.1.clone().context("the SDL has no mutation type")?;
                    (root, &x.variable_definitions, &x.selection_set)
                }
                q::OperationDefinition::Subscription(_) => {
                    bail!("{}: subscriptions are not supported", path.display())
                }
            };
            for v in vars {
                w.keep_whole(q_named(&v.var_type))
                    .with_context(|| format!("{}", path.display()))?;
            }
            w.selection_set(&root, set)
                .with_context(|| format!("{}", path.display()))?;
        }
    }

    // Every custom scalar stays: they are few and the generated code maps each one.
    let scalars: Vec<String> = w
        .types
        .values()
        .filter_map(|t| match t {
            s::TypeDefinition::Scalar(x) => Some(x.name.clone()),
            _ => None,
        })
        .collect();
    for scalar in scalars {
        w.whole.insert(scalar);
    }

    let mut kept: BTreeMap<String, s::TypeDefinition<'_, String>> = BTreeMap::new();
    for t in w.types.values() {
        let name = type_name(t);
        let mut t = (*t).clone();
        match &mut t {
            s::TypeDefinition::Object(o) => {
                let Some(fields) = w.selected.get(&name) else {
                    continue;
                };
                o.fields.retain(|f| fields.contains(&f.name));
                o.implements_interfaces
                    .retain(|i| w.selected.contains_key(i));
            }
            s::TypeDefinition::Interface(i) => {
                let Some(fields) = w.selected.get(&name) else {
                    continue;
                };
                i.fields.retain(|f| fields.contains(&f.name));
            }
            _ if w.whole.contains(&name) => {}
            _ => continue,
        }
        kept.insert(name, t);
    }

    let mut out = String::from(
        "# The part of Runpod's GraphQL schema that the operations in schema/graphql/operations/ use:\n\
         # object types keep only the fields those operations select. Made by\n\
         # `cargo xtask schema import <sdl> --kind graphql` (origin and sums in schema/SOURCES.toml).\n\
         # Do not edit: change an operation, then import again.\n\n",
    );
    out.push_str(&format!("schema {{\n  query: {}\n", roots.0));
    if let Some(m) = roots.1.as_ref().filter(|_| uses_mutation) {
        out.push_str(&format!("  mutation: {m}\n"));
    }
    out.push_str("}\n");
    for t in kept.values() {
        out.push('\n');
        out.push_str(&t.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDL: &str = "
        schema { query: Query mutation: Mutation }
        scalar DateTime
        type Query { me: User, other: Other }
        type Mutation { rename(input: RenameInput!): User }
        type User { id: ID!, name: String, createdAt: DateTime, pets(kind: Kind): [Pet] }
        type Pet { id: ID!, age: Int }
        type Other { x: Int }
        input RenameInput { name: String!, nested: Nested }
        input Nested { y: Int }
        enum Kind { CAT DOG }
    ";

    #[test]
    fn keeps_only_what_operations_reach() {
        let op = "query Q($k: Kind) { me { id pets(kind: $k) { age } } }";
        let out = subset_of(SDL, [(Path::new("q.graphql"), op)].into_iter()).unwrap();
        assert!(
            out.contains("type User {\n  id: ID!\n  pets(kind: Kind): [Pet]\n}"),
            "{out}"
        );
        assert!(out.contains("type Pet {\n  age: Int\n}"), "{out}");
        assert!(out.contains("enum Kind"), "{out}");
        assert!(out.contains("scalar DateTime"), "{out}");
        assert!(!out.contains("Other"), "{out}");
        assert!(!out.contains("RenameInput"), "{out}");
        assert!(!out.contains("mutation"), "{out}");
    }

    #[test]
    fn mutation_inputs_are_kept_whole() {
        let op = "mutation M($i: RenameInput!) { rename(input: $i) { id } }";
        let out = subset_of(SDL, [(Path::new("m.graphql"), op)].into_iter()).unwrap();
        assert!(out.contains("mutation: Mutation"), "{out}");
        assert!(
            out.contains("input RenameInput {\n  name: String!\n  nested: Nested\n}"),
            "{out}"
        );
        assert!(out.contains("input Nested"), "{out}");
    }

    #[test]
    fn unknown_field_is_an_error() {
        let op = "query { me { nope } }";
        let err = subset_of(SDL, [(Path::new("bad.graphql"), op)].into_iter()).unwrap_err();
        assert!(
            format!("{err:#}").contains("User has no field nope"),
            "{err:#}"
        );
    }
}
