//! Instruments a whole crate: puts `#[::telemetry::timed]` (or `counted`) on every
//! free fn, impl block and trait with default methods of every `.rs` file under
//! its `src/`, and adds `telemetry` to its `[dependencies]`.
//!
//! The attribute is inserted as text just before the item's first keyword, on
//! the same line, instead of re-printing the syntax tree: comments, formatting
//! and line numbers stay as they were, so doc tests keep their names, panic
//! messages their lines, and a diff of the crate shows only the attributes.
//!
//! Left alone, because the attribute does not accept them: `const fn`s (they may
//! run at compile time), fns without a body (trait methods without a default,
//! `extern` blocks), impl blocks with no fn to instrument, traits without default
//! methods, and whatever a macro generates (the rewriter sees only its tokens).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use proc_macro2::LineColumn;
use syn::spanned::Spanned;
use syn::visit::Visit;

const USAGE: &str = "\
usage: telemetry-rewriter --attribute timed|counted --telemetry-path PATH CRATE_DIR

Puts #[::telemetry::<attribute>] on every free fn, impl block and trait with
default methods in the .rs files under CRATE_DIR/src, and adds
`telemetry = { path = PATH }` to CRATE_DIR/Cargo.toml's [dependencies].
PATH is the directory of the telemetry facade crate (relative paths are
resolved against the current directory).";

fn main() -> ExitCode {
    match Options::parse(std::env::args().skip(1)).and_then(|options| options.run()) {
        Ok(tally) => {
            println!("{tally}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("telemetry-rewriter: {message}");
            ExitCode::FAILURE
        }
    }
}

struct Options {
    attribute: &'static str,
    telemetry_path: PathBuf,
    crate_dir: PathBuf,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
        let (mut attribute, mut telemetry_path, mut crate_dir) = (None, None, None);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--attribute" => {
                    attribute = Some(match args.next().as_deref() {
                        Some("timed") => "timed",
                        Some("counted") => "counted",
                        other => {
                            return Err(format!(
                                "--attribute takes `timed` or `counted`, not {other:?}\n\n{USAGE}"
                            ))
                        }
                    })
                }
                "--telemetry-path" => telemetry_path = args.next().map(PathBuf::from),
                "-h" | "--help" => return Err(USAGE.to_string()),
                _ if arg.starts_with('-') => {
                    return Err(format!("unknown option `{arg}`\n\n{USAGE}"))
                }
                _ if crate_dir.is_none() => crate_dir = Some(PathBuf::from(arg)),
                _ => return Err(format!("one crate directory only, got a second: `{arg}`")),
            }
        }
        let missing = |what: &str| format!("{what} is required\n\n{USAGE}");
        let telemetry_path = telemetry_path.ok_or_else(|| missing("--telemetry-path"))?;
        let telemetry_path = std::path::absolute(&telemetry_path)
            .map_err(|error| format!("{}: {error}", telemetry_path.display()))?;
        if !telemetry_path.join("Cargo.toml").is_file() {
            return Err(format!(
                "--telemetry-path {} has no Cargo.toml: give the directory of the telemetry crate",
                telemetry_path.display()
            ));
        }
        Ok(Options {
            attribute: attribute.ok_or_else(|| missing("--attribute"))?,
            telemetry_path,
            crate_dir: crate_dir.ok_or_else(|| missing("a crate directory"))?,
        })
    }

    fn run(&self) -> Result<Tally, String> {
        let manifest = self.crate_dir.join("Cargo.toml");
        add_dependency(&manifest, &self.telemetry_path)?;
        let mut files = Vec::new();
        collect_rust_files(&self.crate_dir.join("src"), &mut files)?;
        files.sort();
        let attribute = format!("#[::telemetry::{}] ", self.attribute);
        let mut tally = Tally::default();
        for file in &files {
            instrument_file(file, &attribute, &mut tally)?;
        }
        Ok(tally)
    }
}

/// Adds `telemetry = { path = ... }` to `[dependencies]`, keeping the rest of
/// the manifest as it was.
fn add_dependency(manifest: &Path, telemetry_path: &Path) -> Result<(), String> {
    let text = read(manifest)?;
    let mut document: toml_edit::DocumentMut = text
        .parse()
        .map_err(|error| format!("{}: not valid TOML: {error}", manifest.display()))?;
    let path = telemetry_path
        .to_str()
        .ok_or_else(|| format!("--telemetry-path {} is not UTF-8", telemetry_path.display()))?;
    let dependencies = document
        .entry("dependencies")
        .or_insert_with(toml_edit::table)
        .as_table_like_mut()
        .ok_or_else(|| format!("{}: `dependencies` is not a table", manifest.display()))?;
    if dependencies.contains_key("telemetry") {
        return Err(format!(
            "{}: already depends on a `telemetry` crate",
            manifest.display()
        ));
    }
    let mut entry = toml_edit::InlineTable::new();
    entry.insert("path", path.into());
    dependencies.insert("telemetry", toml_edit::value(entry));
    write(manifest, &document.to_string())
}

fn collect_rust_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|error| format!("{}: {error}", dir.display()))?
            .path();
        if path.is_dir() {
            collect_rust_files(&path, files)?;
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
    Ok(())
}

fn instrument_file(path: &Path, attribute: &str, tally: &mut Tally) -> Result<(), String> {
    let source = read(path)?;
    let file = match syn::parse_file(&source) {
        Ok(file) => file,
        Err(error) => {
            // A fragment pulled in with `include!`, say: not a file of items.
            let at = error.span().start();
            eprintln!(
                "telemetry-rewriter: left {} as it is: not a file of items ({error} at {}:{})",
                path.display(),
                at.line,
                at.column + 1
            );
            tally.unparsed_files += 1;
            return Ok(());
        }
    };
    let mut finder = Finder {
        insert_at: Vec::new(),
        tally,
    };
    finder.visit_file(&file);
    let mut offsets: Vec<usize> = finder
        .insert_at
        .iter()
        .map(|&at| byte_offset(&source, at))
        .collect::<Result<_, _>>()
        .map_err(|line| format!("{}: no line {line}", path.display()))?;
    if offsets.is_empty() {
        return Ok(());
    }
    offsets.sort_unstable();
    let mut out = String::with_capacity(source.len() + offsets.len() * attribute.len());
    let mut done = 0;
    for offset in offsets {
        out.push_str(&source[done..offset]);
        out.push_str(attribute);
        done = offset;
    }
    out.push_str(&source[done..]);
    tally.files += 1;
    write(path, &out)
}

/// The byte offset of a line and column (in chars) of `source`.
fn byte_offset(source: &str, at: LineColumn) -> Result<usize, usize> {
    let line_start = if at.line == 1 {
        0
    } else {
        source
            .match_indices('\n')
            .nth(at.line - 2)
            .map(|(index, _)| index + 1)
            .ok_or(at.line)?
    };
    let line = &source[line_start..];
    let within = line
        .char_indices()
        .nth(at.column)
        .map_or(line.len(), |(index, _)| index);
    Ok(line_start + within)
}

/// Where the attribute goes in one file: before the first token after an
/// item's own attributes, so it comes last among them (closest to the item) and
/// other attribute macros expand before it.
struct Finder<'a> {
    insert_at: Vec<LineColumn>,
    tally: &'a mut Tally,
}

impl<'ast> Visit<'ast> for Finder<'_> {
    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        if item.sig.constness.is_some() {
            self.tally.skipped_const_fns += 1;
        } else {
            self.insert_at.push(after_attributes(&item.vis, &item.sig));
            self.tally.fns += 1;
        }
        syn::visit::visit_item_fn(self, item);
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        let methods = item.items.iter().filter_map(|member| match member {
            syn::ImplItem::Fn(method) => Some(method),
            _ => None,
        });
        let (consts, instrumentable): (Vec<_>, Vec<_>) =
            methods.partition(|method| method.sig.constness.is_some());
        self.tally.skipped_const_fns += consts.len();
        if instrumentable.is_empty() {
            self.tally.skipped_impls += 1;
        } else {
            let first = match (&item.defaultness, &item.unsafety) {
                (Some(default), _) => default.span(),
                (None, Some(unsafety)) => unsafety.span(),
                (None, None) => item.impl_token.span(),
            };
            self.insert_at.push(first.start());
            self.tally.impls += 1;
            self.tally.methods += instrumentable.len();
        }
        syn::visit::visit_item_impl(self, item);
    }

    fn visit_item_trait(&mut self, item: &'ast syn::ItemTrait) {
        let defaults = item
            .items
            .iter()
            .filter(
                |member| matches!(member, syn::TraitItem::Fn(method) if method.default.is_some()),
            )
            .count();
        if defaults == 0 {
            self.tally.skipped_traits += 1;
        } else {
            let first = match (&item.vis, &item.unsafety, &item.auto_token) {
                (syn::Visibility::Inherited, Some(unsafety), _) => unsafety.span(),
                (syn::Visibility::Inherited, None, Some(auto)) => auto.span(),
                (syn::Visibility::Inherited, None, None) => item.trait_token.span(),
                (visibility, _, _) => visibility.span(),
            };
            self.insert_at.push(first.start());
            self.tally.traits += 1;
            self.tally.default_methods += defaults;
        }
        syn::visit::visit_item_trait(self, item);
    }

    fn visit_item_foreign_mod(&mut self, item: &'ast syn::ItemForeignMod) {
        self.tally.skipped_extern_blocks += 1;
        syn::visit::visit_item_foreign_mod(self, item);
    }

    fn visit_item_macro(&mut self, item: &'ast syn::ItemMacro) {
        self.tally.skipped_item_macros += 1;
        syn::visit::visit_item_macro(self, item);
    }
}

fn after_attributes(visibility: &syn::Visibility, signature: &syn::Signature) -> LineColumn {
    match visibility {
        syn::Visibility::Inherited => signature.span().start(),
        visibility => visibility.span().start(),
    }
}

/// What the rewriter did, printed at the end so a run shows its coverage.
#[derive(Default)]
struct Tally {
    files: usize,
    fns: usize,
    impls: usize,
    methods: usize,
    traits: usize,
    default_methods: usize,
    skipped_const_fns: usize,
    skipped_impls: usize,
    skipped_traits: usize,
    skipped_extern_blocks: usize,
    skipped_item_macros: usize,
    unparsed_files: usize,
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "instrumented {} files: {} fns, {} impl blocks ({} methods), {} traits ({} default methods); \
             left alone: {} const fns, {} impl blocks without a non-const fn, {} traits without default methods, \
             {} extern blocks, {} item-level macro invocations, {} files syn cannot parse",
            self.files,
            self.fns,
            self.impls,
            self.methods,
            self.traits,
            self.default_methods,
            self.skipped_const_fns,
            self.skipped_impls,
            self.skipped_traits,
            self.skipped_extern_blocks,
            self.skipped_item_macros,
            self.unparsed_files,
        )
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|error| format!("{}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn instrument(source: &str) -> (String, Tally) {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir =
            std::env::temp_dir().join(format!("telemetry-rewriter-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.rs", NEXT.fetch_add(1, Ordering::Relaxed)));
        std::fs::write(&path, source).unwrap();
        let mut tally = Tally::default();
        instrument_file(&path, "#[::telemetry::timed] ", &mut tally).unwrap();
        let out = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        (out, tally)
    }

    #[test]
    fn attribute_goes_after_the_items_own_attributes_on_the_same_line() {
        let source = "/// Doc.\n#[inline]\npub(crate) unsafe fn f() {}\n";
        let (out, _) = instrument(source);
        assert_eq!(
            out,
            "/// Doc.\n#[inline]\n#[::telemetry::timed] pub(crate) unsafe fn f() {}\n"
        );
    }

    #[test]
    fn nested_fns_modules_cfg_and_blocks_are_instrumented() {
        let source = "\
#[cfg(test)]
mod tests {
    fn outer() {
        fn inner() {}
        struct S;
        impl S { fn m(&self) {} }
    }
}
default impl<T> Tr for T { fn g() {} }
unsafe impl Send for X {}
pub trait WithDefault { fn required(&self); fn provided(&self) {} }
";
        let (out, tally) = instrument(source);
        for line in [
            "    #[::telemetry::timed] fn outer() {",
            "        #[::telemetry::timed] fn inner() {}",
            "        #[::telemetry::timed] impl S { fn m(&self) {} }",
            "#[::telemetry::timed] default impl<T> Tr for T { fn g() {} }",
            "#[::telemetry::timed] pub trait WithDefault { fn required(&self); fn provided(&self) {} }",
        ] {
            assert!(out.lines().any(|l| l == line), "no line {line:?} in\n{out}");
        }
        assert!(
            out.contains("\nunsafe impl Send for X {}"),
            "an impl without fns is left alone:\n{out}"
        );
        assert_eq!(
            (tally.fns, tally.impls, tally.traits, tally.skipped_impls),
            (2, 2, 1, 1)
        );
    }

    #[test]
    fn what_the_attribute_does_not_accept_is_left_alone() {
        let source = "\
const fn c() -> u8 { 1 }
impl K { const fn new() -> K { K } }
trait NoDefaults { fn f(&self); }
extern \"C\" { fn abs(x: i32) -> i32; }
macro_rules! m { () => { fn generated() {} } }
m!();
";
        let (out, tally) = instrument(source);
        assert_eq!(out, source);
        assert_eq!(
            (
                tally.skipped_const_fns,
                tally.skipped_impls,
                tally.skipped_traits,
                tally.skipped_extern_blocks,
                tally.skipped_item_macros
            ),
            (2, 1, 1, 1, 2)
        );
    }

    #[test]
    fn columns_count_chars_not_bytes() {
        let source = "/* é ü */ fn f() {}\n";
        let (out, _) = instrument(source);
        assert_eq!(out, "/* é ü */ #[::telemetry::timed] fn f() {}\n");
    }
}
