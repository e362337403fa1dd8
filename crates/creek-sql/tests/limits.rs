//! Long operator chains build deep trees; they must be refused before
//! dropping, comparing or printing them could overflow the stack.

#[test]
fn long_chains_are_refused_not_crashed() {
    for op in [" + ", " AND ", " OR ", " * ", " || "] {
        let ok = vec!["a"; 450].join(op);
        let e = creek_sql::parse_expression(&ok).unwrap();
        assert_eq!(creek_sql::parse_expression(&e.to_string()).unwrap(), e);
        let long = vec!["a"; 100_000].join(op);
        let err = creek_sql::parse_expression(&long).unwrap_err();
        assert!(err.message.contains("too long"), "{err}");
    }
    let mixed: String = (0..450)
        .map(|i| if i % 2 == 0 { "a + " } else { "b - " })
        .collect::<String>()
        + "c";
    let e = creek_sql::parse_expression(&mixed).unwrap();
    assert_eq!(creek_sql::parse_expression(&e.to_string()).unwrap(), e);
    let deref = format!("a{}", "->b".repeat(100_000));
    assert!(creek_sql::parse_expression(&deref).is_err());
    let sub = format!("a{}", "[1]".repeat(100_000));
    assert!(creek_sql::parse_expression(&sub).is_err());
}
