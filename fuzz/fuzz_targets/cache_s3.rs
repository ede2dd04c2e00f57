//! Fuzzes what an S3 cache reads: its `s3://` URL (S3Url::parse), the URL
//! with the environment (S3Config::new; the input's first line is the URL,
//! the lines after it `NAME=value` variables), the object name a key gets
//! under the URL's prefix, and the `<Code>` of an S3 error body (what a
//! server sent). None may panic, and:
//!
//! - a parsed URL's bucket obeys S3's naming rules, its prefix has no
//!   empty, `.` or `..` component, its endpoint is an http(s) URL with a
//!   host, and it written again parses to the same value;
//! - under any accepted prefix, every key's object is `<prefix>/<key>`,
//!   exactly (object_store keeps the name);
//! - a configuration has what its URL said, non-empty credentials, plain
//!   http only for an http:// endpoint, and its Debug shows no secret;
//! - an error code is a plain word the text holds as `<Code>…</Code>`.
#![no_main]

use forge_cache::fuzzing;
use forge_cache::{Key, S3Config, S3Url};
use libfuzzer_sys::fuzz_target;

fn bucket_ok(b: &str) -> bool {
    let edge = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let bytes = b.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes.iter().all(|&c| edge(c) || c == b'.' || c == b'-')
        && edge(bytes[0])
        && edge(bytes[bytes.len() - 1])
}

/// Every byte but letters and digits as `%XX`.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn render(u: &S3Url) -> String {
    let mut url = format!("s3://{}/{}", u.bucket, u.prefix);
    let mut query = Vec::new();
    if let Some(e) = &u.endpoint {
        query.push(format!("endpoint={}", encode(e)));
    }
    if let Some(r) = &u.region {
        query.push(format!("region={}", encode(r)));
    }
    if !query.is_empty() {
        url = format!("{url}?{}", query.join("&"));
    }
    url
}

fn check_url(url: &str, keys: &[Key]) -> Option<S3Url> {
    let u = S3Url::parse(url).ok()?;
    assert!(bucket_ok(&u.bucket), "bucket {:?}", u.bucket);
    if !u.prefix.is_empty() {
        for part in u.prefix.split('/') {
            assert!(
                !part.is_empty() && part != "." && part != "..",
                "{:?}",
                u.prefix
            );
        }
    }
    if let Some(e) = &u.endpoint {
        let rest = e
            .strip_prefix("http://")
            .or_else(|| e.strip_prefix("https://"));
        assert!(
            rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/')),
            "{e:?}"
        );
    }
    assert!(u.region.as_ref().is_none_or(|r| !r.is_empty()));
    let again = render(&u);
    assert_eq!(S3Url::parse(&again).as_ref(), Ok(&u), "{again}");
    for key in keys {
        let want = if u.prefix.is_empty() {
            key.as_str().to_owned()
        } else {
            format!("{}/{}", u.prefix, key.as_str())
        };
        assert_eq!(fuzzing::s3_object_name(&u.prefix, key), Ok(want));
    }
    Some(u)
}

fn check_config(url: &str, u: Option<&S3Url>, vars: &[(&str, &str)]) {
    let env = |name: &str| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    };
    let Ok(c) = S3Config::new(url, &env) else {
        return;
    };
    let u = u.expect("a configuration's URL parses");
    assert_eq!((&c.bucket, &c.prefix), (&u.bucket, &u.prefix));
    assert!(!c.region.is_empty());
    if let Some(r) = &u.region {
        assert_eq!(&c.region, r);
    }
    assert!(!c.access_key_id.is_empty() && !c.secret_access_key.is_empty());
    assert!(c.session_token.as_ref().is_none_or(|t| !t.is_empty()));
    match &c.endpoint {
        Some(e) => {
            assert_eq!(c.allow_http, e.starts_with("http://"));
            assert!(
                e.starts_with("http://") || e.starts_with("https://"),
                "{e:?}"
            );
            assert!(!e.ends_with('/'), "{e:?}");
        }
        None => assert!(!c.allow_http),
    }
    // Secrets stay out of Debug (checked when the secret is a word that
    // no other field holds, so finding it could only mean it is shown).
    let shown = format!("{c:?}");
    let others = [
        c.bucket.as_str(),
        c.prefix.as_str(),
        c.endpoint.as_deref().unwrap_or(""),
        c.region.as_str(),
        c.access_key_id.as_str(),
        "S3Config",
    ];
    for secret in [Some(&c.secret_access_key), c.session_token.as_ref()]
        .into_iter()
        .flatten()
    {
        let word = secret.len() >= 4 && secret.bytes().all(|b| b.is_ascii_alphanumeric());
        if word && !others.iter().any(|o| o.contains(secret.as_str())) {
            assert!(!shown.contains(secret.as_str()), "{shown}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(code) = fuzzing::s3_error_code(text) {
        assert!(!code.is_empty() && code.len() <= 64);
        assert!(code.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(text.contains(&format!("<Code>{code}</Code>")));
    }
    let _ = check_url(text, &[]);
    let mut lines = text.lines();
    let url = lines.next().unwrap_or("");
    let rest: Vec<&str> = lines.collect();
    let keys: Vec<Key> = rest.iter().filter_map(|l| Key::new(l).ok()).collect();
    let vars: Vec<(&str, &str)> = rest.iter().filter_map(|l| l.split_once('=')).collect();
    let parsed = check_url(url, &keys);
    check_config(url, parsed.as_ref(), &vars);
});
