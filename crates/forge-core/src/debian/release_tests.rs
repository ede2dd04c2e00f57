use super::*;
use proptest::prelude::*;

const INRELEASE: &str = "-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA256

Origin: Debian
Label: Debian
Suite: oldstable-updates
Version: 12-updates
Codename: bookworm-updates
Date: Sat, 28 Nov 2026 14:09:31 UTC
Valid-Until: Sat, 05 Dec 2026 14:09:31 UTC
Acquire-By-Hash: yes
Architectures: all amd64 arm64
Components: main contrib
Description: Debian 12 - Updates
MD5Sum:
 d41d8cd98f00b204e9800998ecf8427e        0 contrib/Contents-all
SHA256:
 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855        0 contrib/Contents-all
 f61f27bd17de546264aa58f40f3aafaac7021e0ef69c17f6b1b4cd7664a037ec       20 main/binary-amd64/Packages.xz
- -- an escaped dash line
-----BEGIN PGP SIGNATURE-----

iQIzBAEBCAAdFiEE
=abcd
-----END PGP SIGNATURE-----
";

#[test]
fn extracts_the_signed_text() {
    let t = signed_text(INRELEASE).unwrap();
    assert!(t.starts_with("Origin: Debian\n"));
    assert!(t.ends_with("main/binary-amd64/Packages.xz\n-- an escaped dash line\n"));
    assert!(!t.contains("PGP"));
}

#[test]
fn parses_the_release_fields() {
    let t = signed_text(INRELEASE).unwrap();
    // The escaped line is not a field; parse the part before it.
    let t = t.replace("-- an escaped dash line\n", "");
    let r = Release::parse(&t).unwrap();
    assert_eq!(r.codename.as_deref(), Some("bookworm-updates"));
    assert_eq!(r.suite.as_deref(), Some("oldstable-updates"));
    assert_eq!(r.date, Some(1_795_874_971));
    assert_eq!(r.valid_until, Some(1_795_874_971 + 7 * 86400));
    assert!(r.acquire_by_hash);
    assert_eq!(r.architectures, ["all", "amd64", "arm64"]);
    assert_eq!(r.components, ["main", "contrib"]);
    assert_eq!(r.sha256.len(), 2);
    let f = r.file("main/binary-amd64/Packages.xz").unwrap();
    assert_eq!(f.size, 20);
    assert_eq!(
        hex::encode(f.sha256),
        "f61f27bd17de546264aa58f40f3aafaac7021e0ef69c17f6b1b4cd7664a037ec"
    );
    assert!(r.file("main/binary-arm64/Packages.xz").is_none());
}

#[test]
fn refuses_text_outside_the_signature() {
    let before = format!("Origin: Evil\n{INRELEASE}");
    assert_eq!(signed_text(&before), Err(ReleaseError::NotClearsigned));
    let after = format!("{INRELEASE}Origin: Evil\n");
    let line = INRELEASE.lines().count() + 1;
    assert_eq!(
        signed_text(&after),
        Err(ReleaseError::TrailingText {
            line,
            found: "Origin: Evil".into()
        })
    );
    let twice = format!("{INRELEASE}{INRELEASE}");
    assert!(matches!(
        signed_text(&twice),
        Err(ReleaseError::TrailingText { .. })
    ));
    let header = INRELEASE.replace("Hash: SHA256", "Comment: x");
    assert!(matches!(
        signed_text(&header),
        Err(ReleaseError::BadArmorHeader { line: 2, .. })
    ));
    let dash = INRELEASE.replace("- -- an", "--- an");
    assert!(matches!(
        signed_text(&dash),
        Err(ReleaseError::UnescapedDash { line: 20, .. })
    ));
    let unsigned = INRELEASE.split(BEGIN_SIGNATURE).next().unwrap();
    assert_eq!(signed_text(unsigned), Err(ReleaseError::MissingSignature));
    let open = INRELEASE.replace(END_SIGNATURE, "");
    assert_eq!(signed_text(&open), Err(ReleaseError::UnterminatedSignature));
}

#[test]
fn bad_release_fields_name_the_line() {
    let e = Release::parse("Origin: x\nSHA256:\n 00 1 a\n").unwrap_err();
    assert!(matches!(
        e,
        ReleaseError::InvalidField {
            line: 3,
            field: "SHA256",
            ..
        }
    ));
    let e = Release::parse("Origin: x\nDate: yesterday\n").unwrap_err();
    assert!(matches!(
        e,
        ReleaseError::InvalidField {
            line: 2,
            field: "Date",
            ..
        }
    ));
    assert!(matches!(
        Release::parse("\n\n"),
        Err(ReleaseError::Empty { .. })
    ));
}

#[test]
fn dates() {
    assert_eq!(
        parse_date("Sat, 10 May 2025 08:52:04 UTC"),
        Some(1_746_867_124)
    );
    assert_eq!(parse_date("Thu, 1 Jan 1970 00:00:00 GMT"), Some(0));
    assert_eq!(
        parse_date("29 Feb 2024 23:59:60 +0130"),
        Some(1_709_245_800)
    );
    for bad in [
        "",
        "Sat, 30 Feb 2025 00:00:00 UTC",
        "Xyz, 1 May 2025 00:00:00 UTC",
        "1 May 2025 24:00:00 UTC",
        "1 May 2025 00:00:00 CEST",
        "1 May 25 00:00:00 UTC",
    ] {
        assert_eq!(parse_date(bad), None, "{bad}");
    }
}

proptest! {
    #[test]
    fn signed_text_round_trips(lines in proptest::collection::vec("[ -~]{0,30}", 0..10)) {
        let mut body = String::new();
        let mut expect = String::new();
        for l in &lines {
            if l.starts_with('-') {
                body.push_str("- ");
            }
            body.push_str(l);
            body.push('\n');
            expect.push_str(l);
            expect.push('\n');
        }
        let msg = format!("{BEGIN_MESSAGE}\nHash: SHA256\n\n{body}{BEGIN_SIGNATURE}\n\nAAAA\n{END_SIGNATURE}\n");
        prop_assert_eq!(signed_text(&msg).unwrap(), expect);
    }

    #[test]
    fn never_panics(s in "(?s)\\PC{0,200}") {
        let _ = signed_text(&s);
        let _ = Release::parse(&s);
        let _ = parse_date(&s);
    }

    #[test]
    fn dates_agree_with_a_day_count(days in 0i64..40000, secs in 0i64..86400) {
        // Rebuild the civil date by counting forward, and compare.
        let t = days * 86400 + secs;
        let (mut y, mut d) = (1970i64, days);
        loop {
            let len = if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 { 366 } else { 365 };
            if d < len { break; }
            d -= len;
            y += 1;
        }
        let mut m = 1;
        while d >= i64::from(days_in_month(y, m)) {
            d -= i64::from(days_in_month(y, m));
            m += 1;
        }
        const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let text = format!("{} {} {y} {:02}:{:02}:{:02} UTC", d + 1, MONTHS[m as usize - 1], secs / 3600, secs / 60 % 60, secs % 60);
        prop_assert_eq!(parse_date(&text), Some(t));
    }
}
