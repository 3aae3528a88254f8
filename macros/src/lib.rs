//! `#[ores_sql::test]`: a test function that takes a fresh `TestDatabase`.
//!
//! Use it through the re-export `ores_sql::test`; see that crate's README for the
//! whole story (keeping the database of a failed test, async tests).

use proc_macro::TokenStream;
use quote::quote;
use syn::{FnArg, Ident, ItemFn, Type, parse_macro_input};

/// Turns `fn name(db: TestDatabase)` (or `async fn`, returning `()` or a `Result`)
/// into a `#[test]` that makes the database, runs the body with it and drops it
/// afterwards, or keeps it when the test fails and `ORES_TEST_KEEP_FAILED=1`. An
/// `async fn` may take a `tokio_postgres::Client` instead: a session as the database's
/// DDL user (owner role). Other attributes (`#[ignore]`, `#[should_panic]`, ...) stay
/// on the test.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    if !args.is_empty() {
        return syn::Error::new(
            proc_macro2::Span::call_site(),
            "#[ores_sql::test] takes no arguments",
        )
        .to_compile_error()
        .into();
    }
    let mut inner = parse_macro_input!(item as ItemFn);
    if inner.sig.inputs.len() != 1 {
        return syn::Error::new_spanned(
            &inner.sig,
            "an #[ores_sql::test] function takes one argument, its `TestDatabase`",
        )
        .to_compile_error()
        .into();
    }
    let attrs = std::mem::take(&mut inner.attrs);
    let vis = inner.vis.clone();
    let name = inner.sig.ident.clone();
    let output = inner.sig.output.clone();
    let runner = match (inner.sig.asyncness.is_some(), takes_client(&inner)) {
        (true, true) => quote!(run_async_client),
        (true, false) => quote!(run_async),
        (false, _) => quote!(run),
    };
    inner.sig.ident = Ident::new("__ores_sql_test_body", name.span());
    let label = name.to_string();
    quote! {
        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis fn #name() #output {
            #inner
            ::ores_sql::testing::attribute::#runner(
                ::core::concat!(::core::module_path!(), "::", #label),
                __ores_sql_test_body,
            )
        }
    }
    .into()
}

/// Whether the one argument's type is a `Client` (`tokio_postgres::Client` or an
/// imported `Client`); anything else is taken for a `TestDatabase`.
fn takes_client(f: &ItemFn) -> bool {
    let Some(FnArg::Typed(arg)) = f.sig.inputs.first() else {
        return false;
    };
    match &*arg.ty {
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Client"),
        _ => false,
    }
}
