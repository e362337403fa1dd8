//! Windowed sources: streams declared over a windowed aggregation's topic
//! with `WINDOW_TYPE` (and `WINDOW_SIZE` for time windows). Their keys carry
//! the window, and queries over them see WINDOWSTART and WINDOWEND.

use crate::window::{WindowKind, WindowSpec};

/// The window of a source declared with `WINDOW_TYPE` / `WINDOW_SIZE`;
/// `None` for an unwindowed source.
pub fn source_window(
    window_type: Option<&str>,
    window_size: Option<&str>,
) -> Result<Option<WindowSpec>, String> {
    let Some(window_type) = window_type else {
        return Ok(None);
    };
    let kind = match window_type.to_ascii_uppercase().as_str() {
        "SESSION" => WindowKind::Session,
        "TUMBLING" => WindowKind::Tumbling,
        "HOPPING" => WindowKind::Hopping,
        other => {
            return Err(format!(
                "Invalid value {other} for property WINDOW_TYPE: String must be one of: SESSION, HOPPING, TUMBLING"
            ))
        }
    };
    let size = match (kind, window_size) {
        (WindowKind::Session, Some(_)) => {
            return Err("'WINDOW_SIZE' should not be set for SESSION windows.".into())
        }
        (WindowKind::Session, None) => 0,
        (_, None) => {
            return Err(
                "Tumbling and Hopping window types should set WINDOW_SIZE in the WITH clause."
                    .into(),
            )
        }
        (_, Some(text)) => parse_duration(text)
            .map_err(|e| format!("Configuration WINDOW_SIZE is invalid: {e}"))?,
    };
    // Only the type and size are known: WINDOWEND is start + size for time
    // windows; a session's end is in its key.
    Ok(Some(WindowSpec {
        kind,
        size,
        advance: size,
        grace: 0,
        retention: size,
    }))
}

/// ksqlDB's `DurationParser`: `<number> <unit>`, the unit a plural or
/// singular `TimeUnit` name in any case.
fn parse_duration(text: &str) -> Result<i64, String> {
    let invalid = |why: String| format!("Invalid duration: '{text}'. {why}");
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [number, unit] = parts[..] else {
        return Err(invalid(format!("Expected 2 tokens, got: {}", parts.len())));
    };
    let number: i64 = number
        .parse()
        .map_err(|_| invalid(format!("Not numeric: '{number}'")))?;
    let unit = unit.to_ascii_uppercase();
    let plural = if unit.ends_with('S') {
        unit.clone()
    } else {
        format!("{unit}S")
    };
    let ms = match plural.as_str() {
        "MILLISECONDS" => 1,
        "SECONDS" => 1_000,
        "MINUTES" => 60_000,
        "HOURS" => 3_600_000,
        "DAYS" => 86_400_000,
        _ => return Err(invalid(format!("Unknown time unit: '{unit}'"))),
    };
    Ok(number.saturating_mul(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_properties_of_a_source() {
        let w = source_window(Some("HoPping"), Some("30 seconds"))
            .unwrap()
            .unwrap();
        assert_eq!((w.kind, w.size), (WindowKind::Hopping, 30_000));
        let w = source_window(Some("tumbling"), Some("1 SECOND"))
            .unwrap()
            .unwrap();
        assert_eq!((w.kind, w.size), (WindowKind::Tumbling, 1_000));
        assert_eq!(
            source_window(Some("Session"), None).unwrap().unwrap().kind,
            WindowKind::Session
        );
        assert_eq!(source_window(None, None).unwrap(), None);
        assert_eq!(
            source_window(Some("Session"), Some("30 seconds")).unwrap_err(),
            "'WINDOW_SIZE' should not be set for SESSION windows."
        );
        assert_eq!(
            source_window(Some("HOPPING"), Some("30 bobs")).unwrap_err(),
            "Configuration WINDOW_SIZE is invalid: Invalid duration: '30 bobs'. Unknown time unit: 'BOBS'"
        );
    }
}
