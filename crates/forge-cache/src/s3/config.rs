//! What an `s3://` cache URL and the environment say: the bucket, the
//! prefix inside it, the endpoint, the region and the credentials. Pure:
//! the environment comes in as a lookup function, so this is tested
//! without touching the process's environment.
//!
//! `s3://bucket[/prefix][?endpoint=URL][&region=NAME]`; the query names
//! nothing else (an unknown parameter is an error naming it, so a typo
//! never sends a cache to AWS's default endpoint).

/// The query parameters a URL may carry.
pub const PARAMETERS: [&str; 2] = ["endpoint", "region"];

/// The region when neither the URL nor the environment names one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// A parsed `s3://` URL, before the environment is consulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    /// The bucket.
    pub bucket: String,
    /// The objects' common prefix inside the bucket, `/`-separated, with
    /// no leading or trailing `/` (empty for the bucket's root).
    pub prefix: String,
    /// `endpoint=`, percent-decoded.
    pub endpoint: Option<String>,
    /// `region=`, percent-decoded.
    pub region: Option<String>,
}

/// Everything the backend needs to reach the cache.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    pub prefix: String,
    /// `None`: AWS itself (virtual-hosted requests).
    pub endpoint: Option<String>,
    pub region: String,
    /// Plain `http://`: only when the endpoint chosen says so.
    pub allow_http: bool,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

// Secrets stay out of debug output.
impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("allow_http", &self.allow_http)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Why a configuration could not be made: a bad URL, or credentials
/// missing from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    Url(String),
    NoCredentials(&'static str),
}

impl S3Url {
    /// Parses `url` (`s3://…`).
    pub fn parse(url: &str) -> Result<S3Url, String> {
        let rest = url
            .get(..5)
            .filter(|s| s.eq_ignore_ascii_case("s3://"))
            .map(|_| &url[5..])
            .ok_or("not an s3:// URL")?;
        if rest.contains('#') {
            return Err("an s3:// URL has no fragment".to_owned());
        }
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        check_bucket(bucket)?;
        let prefix = prefix.trim_matches('/');
        if !prefix.is_empty() {
            for part in prefix.split('/') {
                if part.is_empty() || part == "." || part == ".." {
                    return Err(format!(
                        "the prefix `{prefix}` has an empty, `.` or `..` component"
                    ));
                }
                if part.bytes().any(|b| b.is_ascii_control() || b == b'%') {
                    return Err(format!(
                        "the prefix `{prefix}` has a control character or `%`"
                    ));
                }
            }
        }
        let mut parsed = S3Url {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint: None,
            region: None,
        };
        let mut unknown = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match name {
                "endpoint" => &mut parsed.endpoint,
                "region" => &mut parsed.region,
                _ => {
                    unknown.push(format!("`{}`", name.escape_default()));
                    continue;
                }
            };
            if slot.is_some() {
                return Err(format!("the query parameter `{name}` is given twice"));
            }
            let value = percent_decode(value)
                .ok_or_else(|| format!("the query parameter `{name}` is not percent-encoded"))?;
            if value.is_empty() {
                return Err(format!("the query parameter `{name}` is empty"));
            }
            *slot = Some(value);
        }
        if !unknown.is_empty() {
            return Err(format!(
                "unknown query parameter{} {} (known: {})",
                if unknown.len() > 1 { "s" } else { "" },
                unknown.join(", "),
                PARAMETERS.join(", ")
            ));
        }
        if let Some(e) = &parsed.endpoint {
            check_endpoint(e)?;
        }
        Ok(parsed)
    }
}

/// S3's bucket naming rules (3 to 63 lowercase letters, digits, `.` and
/// `-`, starting and ending with a letter or digit).
fn check_bucket(bucket: &str) -> Result<(), String> {
    if bucket.is_empty() {
        return Err("no bucket (expected s3://bucket/prefix)".to_owned());
    }
    let ok_char = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-';
    let edge = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = bucket.as_bytes();
    if !(3..=63).contains(&bytes.len())
        || !bytes.iter().all(|&b| ok_char(b))
        || !edge(bytes[0])
        || !edge(bytes[bytes.len() - 1])
    {
        return Err(format!(
            "`{}` is not a bucket name (3 to 63 lowercase letters, digits, `.` and `-`)",
            bucket.escape_default()
        ));
    }
    Ok(())
}

fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let rest = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))
        .ok_or_else(|| {
            format!(
                "the endpoint `{}` is not an http:// or https:// URL",
                endpoint.escape_default()
            )
        })?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(['?', '#']) {
        return Err(format!(
            "the endpoint `{}` has no host, or has a query",
            endpoint.escape_default()
        ));
    }
    Ok(())
}

/// `%XX` decoded (and `+` kept: it is a plus in a URL's query here);
/// `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl S3Config {
    /// The configuration `url` names, completed from `env` (the process's
    /// environment in use): `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`; the region from the URL, else `AWS_REGION`,
    /// else `AWS_DEFAULT_REGION`, else [`DEFAULT_REGION`]; the endpoint
    /// from the URL, else `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`.
    pub fn new(url: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<S3Config, ConfigError> {
        let parsed = S3Url::parse(url).map_err(ConfigError::Url)?;
        let var = |name: &str| env(name).filter(|v| !v.is_empty());
        let endpoint = match parsed.endpoint {
            Some(e) => Some(e),
            None => match var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL")) {
                Some(e) => {
                    check_endpoint(&e).map_err(ConfigError::Url)?;
                    Some(e)
                }
                None => None,
            },
        };
        let region = parsed
            .region
            .or_else(|| var("AWS_REGION"))
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| DEFAULT_REGION.to_owned());
        let access_key_id =
            var("AWS_ACCESS_KEY_ID").ok_or(ConfigError::NoCredentials("AWS_ACCESS_KEY_ID"))?;
        let secret_access_key = var("AWS_SECRET_ACCESS_KEY")
            .ok_or(ConfigError::NoCredentials("AWS_SECRET_ACCESS_KEY"))?;
        Ok(S3Config {
            bucket: parsed.bucket,
            prefix: parsed.prefix,
            allow_http: endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://")),
            endpoint: endpoint.map(|e| e.trim_end_matches('/').to_owned()),
            region,
            access_key_id,
            secret_access_key,
            session_token: var("AWS_SESSION_TOKEN"),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    const KEYS: [(&str, &str); 2] = [("AWS_ACCESS_KEY_ID", "id"), ("AWS_SECRET_ACCESS_KEY", "s")];

    #[test]
    fn a_url_names_bucket_prefix_endpoint_and_region() {
        let u = S3Url::parse(
            "s3://my-cache/team/x86/?endpoint=http%3A%2F%2F127.0.0.1:8333&region=eu-west-1",
        )
        .unwrap();
        assert_eq!(
            u,
            S3Url {
                bucket: "my-cache".into(),
                prefix: "team/x86".into(),
                endpoint: Some("http://127.0.0.1:8333".into()),
                region: Some("eu-west-1".into()),
            }
        );
        let u = S3Url::parse("s3://my-cache").unwrap();
        assert_eq!((u.prefix.as_str(), u.endpoint, u.region), ("", None, None));
    }

    #[test]
    fn bad_urls_say_why() {
        for (url, why) in [
            ("s3://", "no bucket"),
            ("s3:///x", "no bucket"),
            ("s3://My_Bucket/x", "is not a bucket name"),
            ("s3://ab", "is not a bucket name"),
            ("s3://b-cache/a//b", "empty, `.` or `..` component"),
            ("s3://b-cache/a/../b", "empty, `.` or `..` component"),
            (
                "s3://b-cache?endpont=http://x",
                "unknown query parameter `endpont`",
            ),
            ("s3://b-cache?a=1&b=2", "unknown query parameters `a`, `b`"),
            ("s3://b-cache?region=a&region=b", "given twice"),
            ("s3://b-cache?region=", "is empty"),
            ("s3://b-cache?region=%zz", "not percent-encoded"),
            (
                "s3://b-cache?endpoint=ftp://x",
                "not an http:// or https:// URL",
            ),
            ("s3://b-cache?endpoint=http://", "has no host"),
            ("s3://b-cache#x", "no fragment"),
        ] {
            let err = S3Url::parse(url).unwrap_err();
            assert!(err.contains(why), "{url}: {err}");
        }
    }

    #[test]
    fn the_environment_completes_the_url() {
        let c = S3Config::new("s3://b-cache/p", &env(&KEYS)).unwrap();
        assert_eq!(c.region, DEFAULT_REGION);
        assert_eq!((c.endpoint, c.allow_http), (None, false));
        assert_eq!(c.session_token, None);

        let vars = [
            KEYS[0],
            KEYS[1],
            ("AWS_SESSION_TOKEN", "t"),
            ("AWS_DEFAULT_REGION", "eu-central-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/"),
        ];
        let c = S3Config::new("s3://b-cache/p", &env(&vars)).unwrap();
        assert_eq!(c.region, "eu-central-1");
        assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(c.allow_http, "an http endpoint the user wrote allows http");
        assert_eq!(c.session_token.as_deref(), Some("t"));
        // The URL wins over the environment; https stays https-only.
        let c = S3Config::new(
            "s3://b-cache/p?endpoint=https://s3.example&region=r1",
            &env(&vars),
        )
        .unwrap();
        assert_eq!(
            (c.endpoint.as_deref(), c.region.as_str(), c.allow_http),
            (Some("https://s3.example"), "r1", false)
        );
        // No credentials: an error naming the variable, not a fall back
        // to instance metadata.
        assert_eq!(
            S3Config::new("s3://b-cache", &env(&[KEYS[0]])).unwrap_err(),
            ConfigError::NoCredentials("AWS_SECRET_ACCESS_KEY")
        );
        // Secrets stay out of debug output.
        let shown = format!("{:?}", S3Config::new("s3://b-cache", &env(&vars)).unwrap());
        assert!(
            !shown.contains("\"s\"") && !shown.contains("\"t\""),
            "{shown}"
        );
    }

    proptest! {
        /// Whatever the string, parsing answers (never panics).
        #[test]
        fn parsing_never_panics(s in "\\PC{0,80}") {
            let _ = S3Url::parse(&s);
            let _ = S3Url::parse(&format!("s3://{s}"));
            let _ = percent_decode(&s);
        }

        /// Whatever the environment holds, a configuration made has what
        /// its URL says, non-empty credentials, and plain http only for
        /// an http:// endpoint, with no trailing `/`.
        #[test]
        fn any_environment_makes_a_sound_configuration(
            url in "s3://[a-z0-9.-]{3,12}(/[a-z]{1,4}){0,2}(\\?region=[a-z0-9-]{0,6})?",
            vars in proptest::collection::vec(
                (proptest::sample::select(&[
                    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                ][..]), "(https?://)?[a-z0-9:/.?#]{0,12}"),
                0..8,
            ),
        ) {
            let env = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
            if let Ok(c) = S3Config::new(&url, &env) {
                let u = S3Url::parse(&url).unwrap();
                prop_assert_eq!((&c.bucket, &c.prefix), (&u.bucket, &u.prefix));
                prop_assert!(!c.region.is_empty());
                prop_assert!(!c.access_key_id.is_empty() && !c.secret_access_key.is_empty());
                match &c.endpoint {
                    Some(e) => {
                        prop_assert!(check_endpoint(e).is_ok(), "{}", e);
                        prop_assert!(!e.ends_with('/'));
                        prop_assert_eq!(c.allow_http, e.starts_with("http://"));
                    }
                    None => prop_assert!(!c.allow_http),
                }
            }
        }

        /// Valid URLs parse to what they were made of.
        #[test]
        fn valid_urls_round_trip(
            bucket in "[a-z0-9][a-z0-9.-]{1,20}[a-z0-9]",
            prefix in proptest::collection::vec("[A-Za-z0-9_+=!-]{1,8}", 0..4),
            region in proptest::option::of("[a-z]{2}-[a-z]{4,9}-[1-9]"),
            port in proptest::option::of(1u16..),
        ) {
            let endpoint = port.map(|p| format!("http://127.0.0.1:{p}"));
            let mut url = format!("s3://{bucket}/{}", prefix.join("/"));
            let mut query = Vec::new();
            if let Some(e) = &endpoint { query.push(format!("endpoint={}", e.replace(':', "%3A"))); }
            if let Some(r) = &region { query.push(format!("region={r}")); }
            if !query.is_empty() { url = format!("{url}?{}", query.join("&")); }
            let u = S3Url::parse(&url).unwrap();
            prop_assert_eq!(u, S3Url { bucket, prefix: prefix.join("/"), endpoint, region });
        }
    }
}
