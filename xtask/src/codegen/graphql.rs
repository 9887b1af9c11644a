//! `schema/graphql/operations/*.graphql` → `generated/graphql/<file>.rs` with
//! graphql_client_codegen in CLI mode (no derive macro, so runpod-types needs no proc-macro).

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use graphql_client_codegen::{CodegenMode, GraphQLClientCodegenOptions};

use super::{GENERATED_DIR, Output, format};
use crate::graphql_subset::operation_files;
use crate::sources::Sources;

const SCHEMA: &str = "graphql/schema.graphql";

/// One module per operations file, plus the `mod.rs` that lists them.
pub(crate) fn outputs(sources: &Sources, root: &Path) -> Result<Vec<Output>> {
    // Checked here; graphql_client_codegen then reads the same file itself.
    sources.read_verified(root, SCHEMA)?;
    let schema_path = root.join("schema").join(SCHEMA);
    let schema_sha = &sources.files[SCHEMA].sha256;
    let mut out = Vec::new();
    let mut modules = Vec::new();
    for file in operation_files(root)? {
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .context("an operations file name is not UTF-8")?
            .to_owned();
        let text = std::fs::read_to_string(&file)?;
        // The file's comments are for reviewers; the server gets the operations only.
        let text: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .skip_while(|l| l.trim().is_empty())
            .map(|l| format!("{l}\n"))
            .collect();
        let mut options = GraphQLClientCodegenOptions::new(CodegenMode::Cli);
        options.set_module_visibility(syn::parse_quote!(pub));
        options.set_response_derives("Debug, Clone, PartialEq".to_owned());
        options.set_variables_derives("Debug, Clone, PartialEq".to_owned());
        options.set_custom_scalars_module(syn::parse_quote!(crate::scalars));
        // Not `set_query_file`: it would embed this machine's absolute path in the output.
        let tokens = graphql_client_codegen::generate_module_token_stream_from_string(
            &text,
            &schema_path,
            options,
        )
        .map_err(|e| {
            anyhow!(
                "schema/graphql/operations/{stem}.graphql: {e}\n\
                         (if the operation is right, import the SDL again so the subset covers it)"
            )
        })?;
        let note = format!(
            "schema/graphql/operations/{stem}.graphql against schema/{SCHEMA} (sha256 {schema_sha})"
        );
        let code = document(&tokens.to_string())?;
        out.push(Output {
            path: Path::new(GENERATED_DIR)
                .join("graphql")
                .join(format!("{stem}.rs")),
            contents: format(&note, &code)?,
        });
        modules.push(stem);
    }
    let mut list = String::from("//! One module per file in schema/graphql/operations/.\n");
    for m in &modules {
        list.push_str(&format!(
            "/// The operations of `schema/graphql/operations/{m}.graphql`.\npub mod {m};\n"
        ));
    }
    out.push(Output {
        path: Path::new(GENERATED_DIR).join("graphql").join("mod.rs"),
        contents: format("schema/graphql/operations/", &list)?,
    });
    Ok(out)
}

/// Gives each operation's marker struct the derives and docs the workspace lints ask for, and
/// documents each operation's module.
fn document(code: &str) -> Result<String> {
    let mut file = syn::parse_file(code).context("graphql_client_codegen output does not parse")?;
    for item in &mut file.items {
        match item {
            syn::Item::Struct(st) if st.fields.is_empty() => {
                let doc = format!(
                    " The `{}` operation (see its module for the types).",
                    st.ident
                );
                st.attrs.push(syn::parse_quote!(#[doc = #doc]));
                st.attrs
                    .push(syn::parse_quote!(#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]));
            }
            syn::Item::Mod(m) => {
                let doc = format!(
                    " Variables and response types of the `{}` operation.",
                    m.ident
                );
                m.attrs.push(syn::parse_quote!(#[doc = #doc]));
            }
            _ => {}
        }
    }
    Ok(prettyplease::unparse(&file))
}
