//! Arithmetic with a bare NULL is refused while compiling, with ksqlDB's
//! wording; typed operands keep working.

use std::collections::HashMap;

use creek_sql::expr::{compile, CompileContext, Scope};
use creek_sql::functions::FunctionRegistry;

fn compile_text(sql: &str) -> Result<String, String> {
    let functions = FunctionRegistry::builtin();
    let custom_types = HashMap::new();
    let ctx = CompileContext {
        functions: &functions,
        custom_types: &custom_types,
    };
    let expr = creek_sql::parse_expression(sql).unwrap();
    compile(&expr, &Scope::new(Vec::new()), &ctx).map(|c| c.ty.to_string())
}

#[test]
fn a_bare_null_in_arithmetic_is_refused_with_ksqldb_wording() {
    assert_eq!(
        compile_text("1 + NULL").unwrap_err(),
        "Error processing expression: (1 + null). Arithmetic on types INTEGER and null are not supported."
    );
    assert_eq!(
        compile_text("MAP(1 := 'cat') + NULL").unwrap_err(),
        "Error processing expression: (MAP(1:='cat') + null). Arithmetic on types MAP<INTEGER, STRING> and null are not supported."
    );
    assert_eq!(
        compile_text("NULL * NULL").unwrap_err(),
        "Error processing expression: (null * null). Arithmetic on types null and null are not supported."
    );
    assert_eq!(compile_text("1 + 2.5").unwrap(), "DECIMAL(12, 1)");
    assert_eq!(compile_text("CAST(NULL AS INT) + 1").unwrap(), "INTEGER");
}
