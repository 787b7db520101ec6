fn exercise() {
    use regex_syntax::{ast, hir, Parser};
    let pattern = r"(?i)^(?P<year>\d{4})-(\w+|[[:alpha:]]){2,}\b[^a-z\p{Greek}]*?$";
    let hir = Parser::new().parse(pattern).unwrap();
    assert!(hir.properties().minimum_len().is_some());
    let printed = hir.to_string();
    Parser::new().parse(&printed).unwrap();
    let ast = ast::parse::Parser::new().parse(pattern).unwrap();
    assert!(!ast.to_string().is_empty());
    assert!(Parser::new().parse("a(b").is_err());
    assert!(Parser::new().parse(r"\p{NotAProperty}").is_err());
    let literals = hir::literal::Extractor::new().extract(&Parser::new().parse("foo|bar|baz").unwrap());
    assert!(literals.is_finite());
    assert_eq!(regex_syntax::escape("a.b"), r"a\.b");
    let ranges: Vec<_> = regex_syntax::utf8::Utf8Sequences::new('\u{0}', '\u{10FFFF}').collect();
    assert!(!ranges.is_empty());
}
