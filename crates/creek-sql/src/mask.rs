//! Secrets in statement text: a `CREATE SOURCE|SINK CONNECTOR … WITH (…)` carries
//! connector configs whose passwords must not reach logs or error bodies
//! (ksqlDB's `QueryMask` does the same for its logs). Values of password-like
//! keys are replaced by `'[hidden]'`, the marker Connect's REST API shows.

use std::borrow::Cow;

use crate::lexer::{tokens, Punct, TokenKind};

/// What replaces a secret value.
pub const HIDDEN: &str = "'[hidden]'";

/// Whether a config key holds a secret, as Connect's `ConfigDef.Type.PASSWORD`
/// keys do: `*.password`, `*.secret`, `aws.secret.access.key`,
/// `s3.sse.customer.key`, `sasl.jaas.config`, registry `*.user.info`, …
/// Keys that merely mention "key" (`key.converter`, `store.kafka.keys`,
/// `aws.access.key.id`) are not secrets.
pub fn is_sensitive_key(key: &str) -> bool {
    let k = key.trim().to_ascii_lowercase();
    if k.contains("password") || k.contains("passwd") || k.contains("secret") {
        return true;
    }
    let last = k.rsplit('.').next().unwrap_or(&k);
    if matches!(last, "pwd" | "token" | "credentials" | "jaas") || k.ends_with("jaas.config") {
        return true;
    }
    if k.ends_with("user.info") || k.ends_with("credentials.json") {
        return true;
    }
    // A key named `….key` is a secret when what it keys is: a customer-provided
    // encryption key, a private or account key, an API key.
    if last == "key" {
        let before = k[..k.len() - 3].trim_end_matches('.');
        let prev = before.rsplit('.').next().unwrap_or("");
        return matches!(
            prev,
            "customer" | "private" | "account" | "api" | "access" | "encryption" | "master"
        );
    }
    false
}

/// `text` with every `'<sensitive key>' = '<value>'` value replaced by
/// `'[hidden]'`. Text the lexer cannot read (an unterminated quote) is cut
/// before the first password-like word, since its values cannot be found.
pub fn mask_secrets(text: &str) -> Cow<'_, str> {
    let toks = match tokens(text) {
        Ok(t) => t,
        Err(_) => return mask_unlexable(text),
    };
    let mut spans = Vec::new();
    let mut urls = Vec::new();
    for w in toks.windows(3) {
        let key = match &w[0].kind {
            TokenKind::Str(s) => s.as_str(),
            TokenKind::Ident { value, .. } => value.as_str(),
            _ => continue,
        };
        if w[1].kind != TokenKind::Punct(Punct::Eq) {
            continue;
        }
        if !is_sensitive_key(key) {
            // A URL value may carry a password of its own (`user:pw@host`,
            // `?password=pw`): the URL stays, the password goes.
            if let TokenKind::Str(url) = &w[2].kind {
                let secrets = url_secrets(url);
                if !secrets.is_empty() {
                    let masked = scrub(url, &secrets).replace('\'', "''");
                    urls.push((w[2].offset, w[2].end(), format!("'{masked}'")));
                }
            }
            continue;
        }
        match &w[2].kind {
            TokenKind::Str(_)
            | TokenKind::Integer(_)
            | TokenKind::Decimal(_)
            | TokenKind::Float(_)
            | TokenKind::Ident { .. }
            | TokenKind::Variable(_) => spans.push((w[2].offset, w[2].end())),
            _ => {}
        }
    }
    if spans.is_empty() && urls.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut replacements: Vec<(usize, usize, String)> = spans
        .into_iter()
        .map(|(start, end)| (start, end, HIDDEN.to_string()))
        .chain(urls)
        .collect();
    replacements.sort_by_key(|r| r.0);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end, with) in replacements {
        out.push_str(&text[at..start]);
        out.push_str(&with);
        at = end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// The secret values `mask_secrets` hides in `text` (to scrub them from
/// messages that quote them, such as a connector's error).
pub fn secret_values(text: &str) -> Vec<String> {
    let Ok(toks) = tokens(text) else {
        return Vec::new();
    };
    toks.windows(3)
        .filter_map(|w| {
            let key = match &w[0].kind {
                TokenKind::Str(s) => s.as_str(),
                TokenKind::Ident { value, .. } => value.as_str(),
                _ => return None,
            };
            if w[1].kind != TokenKind::Punct(Punct::Eq) {
                return None;
            }
            match &w[2].kind {
                TokenKind::Str(s) if !s.is_empty() && is_sensitive_key(key) => {
                    Some(vec![s.clone()])
                }
                TokenKind::Str(url) => Some(url_secrets(url)),
                _ => None,
            }
        })
        .flatten()
        .collect()
}

/// The passwords a URL carries: `scheme://user:PASSWORD@host…` and
/// `password=VALUE` parameters (`?…&password=…` or `;password=…`), as JDBC URLs may.
pub fn url_secrets(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(start) = url.find("://").map(|i| i + 3) {
        let end = url[start..]
            .find(['/', '?', ';'])
            .map_or(url.len(), |i| start + i);
        if let Some(at) = url[start..end].rfind('@').map(|i| start + i) {
            if let Some(colon) = url[start..at].find(':').map(|i| start + i) {
                out.push(url[colon + 1..at].to_string());
            }
        }
    }
    let lower = url.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("password=") {
        let value = from + i + "password=".len();
        let end = url[value..]
            .find(['&', ';'])
            .map_or(url.len(), |j| value + j);
        out.push(url[value..end].to_string());
        from = end;
    }
    out.retain(|s| !s.is_empty());
    out
}

/// `message` with each of `secrets` replaced by `[hidden]`.
pub fn scrub(message: &str, secrets: &[String]) -> String {
    let mut out = message.to_string();
    for s in secrets {
        out = out.replace(s.as_str(), "[hidden]");
    }
    out
}

fn mask_unlexable(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    let first = [
        "password",
        "passwd",
        "secret",
        "jaas",
        "user.info",
        "credentials",
        ".key",
    ]
    .iter()
    .filter_map(|w| lower.find(w))
    .min();
    match first {
        Some(i) => Cow::Owned(format!("{}… [hidden]", &text[..i])),
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_keys() {
        for k in [
            "connection.password",
            "ssl.keystore.password",
            "aws.secret.access.key",
            "s3.sse.customer.key",
            "client.secret",
            "sasl.jaas.config",
            "basic.auth.user.info",
            "azure.storage.account.key",
            "gcs.credentials.json",
        ] {
            assert!(is_sensitive_key(k), "{k}");
        }
        for k in [
            "key.converter",
            "store.kafka.keys",
            "aws.access.key.id",
            "connection.user",
            "s3.bucket.name",
            "key.ignore",
            "pk.fields",
            "primary.key",
        ] {
            assert!(!is_sensitive_key(k), "{k}");
        }
    }

    #[test]
    fn masks_passwords_inside_urls() {
        let sql = "CREATE SOURCE CONNECTOR c WITH ('connector.class'='Jdbc', \
                   'connection.url'='jdbc:postgresql://bob:urlpw@127.0.0.1:1/db?ssl=false&password=qpw', \
                   'topic.prefix'='x-');";
        let masked = mask_secrets(sql);
        assert!(
            !masked.contains("urlpw") && !masked.contains("qpw"),
            "{masked}"
        );
        assert!(
            masked.contains(
                "'connection.url'='jdbc:postgresql://bob:[hidden]@127.0.0.1:1/db?ssl=false&password=[hidden]'"
            ),
            "{masked}"
        );
        assert!(masked.contains("'topic.prefix'='x-'"), "{masked}");
        assert_eq!(
            secret_values(sql),
            vec!["urlpw".to_string(), "qpw".to_string()]
        );
        assert_eq!(
            url_secrets("jdbc:postgresql://127.0.0.1/db"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn masks_values_of_sensitive_keys_only() {
        let sql = "CREATE SOURCE CONNECTOR c WITH ('connector.class'='Jdbc', \
                   'connection.password' = 's3cr3t', \"aws.secret.access.key\"='ab''c', \
                   'key.converter'='Str', 'connection.user'='me');";
        let masked = mask_secrets(sql);
        assert!(
            !masked.contains("s3cr3t") && !masked.contains("ab''c"),
            "{masked}"
        );
        assert!(
            masked.contains("'connection.password' = '[hidden]'"),
            "{masked}"
        );
        assert!(
            masked.contains("'key.converter'='Str'") && masked.contains("'connection.user'='me'")
        );
        assert_eq!(
            secret_values(sql),
            vec!["s3cr3t".to_string(), "ab'c".to_string()]
        );
        assert_eq!(
            scrub("bad password s3cr3t", &secret_values(sql)),
            "bad password [hidden]"
        );
        let plain = "SELECT * FROM s;";
        assert!(matches!(mask_secrets(plain), Cow::Borrowed(_)));
    }

    #[test]
    fn unterminated_text_is_cut_before_the_secret() {
        let sql = "CREATE SOURCE CONNECTOR c WITH ('connection.password'='s3cr3t";
        let masked = mask_secrets(sql);
        assert!(!masked.contains("s3cr3t"), "{masked}");
        assert!(masked.starts_with("CREATE SOURCE CONNECTOR c WITH ('connection."));
    }
}
