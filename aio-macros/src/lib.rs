//! `#[aio::main]` and `#[aio::test]`: run an `async fn` on a fresh aio loop.
//!
//! Both rewrite `async fn NAME(..) -> R { BODY }` into
//! `fn NAME(..) -> R { ::aio::run(async move { BODY }) }`, the Rust form of
//! `asyncio.run(main())`. They work on tokens directly instead of pulling in
//! `syn`, so the library's users do not pay its build time.

use proc_macro::{Delimiter, Group, Ident, Punct, Spacing, Span, TokenStream, TokenTree};

/// Runs `async fn main` on a fresh aio event loop (`asyncio.run(main())`).
/// Use it through the `aio` crate (`#[aio::main]`), where it is doctested;
/// this crate cannot name `aio` in its own doctests.
///
/// ```ignore
/// #[aio::main]
/// async fn main() {
///     aio::sleep(std::time::Duration::from_millis(1)).await;
/// }
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, false)
}

/// Runs an `async fn` test on a fresh aio event loop, one loop per test.
///
/// ```ignore
/// #[aio::test]
/// async fn sleeps() {
///     aio::sleep(std::time::Duration::from_millis(1)).await;
/// }
/// ```
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, true)
}

fn expand(args: TokenStream, item: TokenStream, is_test: bool) -> TokenStream {
    if let Some(tt) = args.into_iter().next() {
        return compile_error("aio's attribute takes no arguments", tt.span());
    }
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();
    let async_at = tokens
        .iter()
        .position(|tt| matches!(tt, TokenTree::Ident(id) if id.to_string() == "async"));
    let Some(async_at) = async_at else {
        return compile_error(
            "the function must be `async fn`",
            tokens.first().map_or_else(Span::call_site, TokenTree::span),
        );
    };
    tokens.remove(async_at);
    let body = match tokens.pop() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => g,
        other => {
            return compile_error(
                "expected a function body",
                other.map_or_else(Span::call_site, |tt| tt.span()),
            )
        }
    };

    // `::aio::run(async move { BODY })`
    let mut call: Vec<TokenTree> = Vec::new();
    call.extend(path(&["aio", "run"]));
    let mut inner = TokenStream::new();
    inner.extend([
        TokenTree::Ident(Ident::new("async", Span::call_site())),
        TokenTree::Ident(Ident::new("move", Span::call_site())),
        TokenTree::Group(Group::new(Delimiter::Brace, body.stream())),
    ]);
    call.push(TokenTree::Group(Group::new(Delimiter::Parenthesis, inner)));
    let new_body = Group::new(Delimiter::Brace, call.into_iter().collect());

    let mut out = TokenStream::new();
    if is_test {
        // #[::core::prelude::v1::test]
        out.extend([TokenTree::Punct(Punct::new('#', Spacing::Alone))]);
        let attr: TokenStream = path(&["core", "prelude", "v1", "test"])
            .into_iter()
            .collect();
        out.extend([TokenTree::Group(Group::new(Delimiter::Bracket, attr))]);
    }
    out.extend(tokens);
    out.extend([TokenTree::Group(new_body)]);
    out
}

fn path(segments: &[&str]) -> Vec<TokenTree> {
    let mut out = Vec::new();
    for seg in segments {
        out.push(TokenTree::Punct(Punct::new(':', Spacing::Joint)));
        out.push(TokenTree::Punct(Punct::new(':', Spacing::Alone)));
        out.push(TokenTree::Ident(Ident::new(seg, Span::call_site())));
    }
    out
}

fn compile_error(msg: &str, span: Span) -> TokenStream {
    let mut lit = proc_macro::Literal::string(msg);
    lit.set_span(span);
    let mut args = TokenStream::new();
    args.extend([TokenTree::Literal(lit)]);
    let mut out: TokenStream = path(&["core", "compile_error"]).into_iter().collect();
    out.extend([
        TokenTree::Punct(Punct::new('!', Spacing::Alone)),
        TokenTree::Group(Group::new(Delimiter::Parenthesis, args)),
        TokenTree::Punct(Punct::new(';', Spacing::Alone)),
    ]);
    out
}
