//! Diagnosis of a Claude Code credentials file.
//!
//! The file holds one object, `claudeAiOauth`, with `accessToken`,
//! `refreshToken`, `expiresAt` (epoch milliseconds), `scopes` (strings) and
//! `subscriptionType`. The diagnosis is a pure function of the bytes, the
//! clock and the scopes the CLI needs, so that both the shim (at container
//! start) and `jib-image creds check` (on the host) print the same verdict.
//!
//! Nothing here ever prints a token: JSON errors are reported by position
//! only, and problems name fields, never their values.

use std::fmt;

/// The scopes Claude Code needs; logins made by older versions carry only
/// the first two, and the CLI rejects those files after start-up.
pub const DEFAULT_REQUIRED_SCOPES: [&str; 3] = [
    "user:inference",
    "user:profile",
    "user:sessions:claude_code",
];

/// What to do about a missing scope or a broken file.
pub const LOGIN_HINT: &str =
    "log out and log in again with Claude Code on the host, then restart the container";

/// What to do about a token that has only expired.
pub const REFRESH_HINT: &str =
    "run Claude Code on the host once so that it refreshes the token, then restart the container";

/// One thing wrong with a credentials file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The bytes are not JSON; the position says where parsing stopped.
    InvalidJson { line: usize, column: usize },
    /// No `claudeAiOauth` object at the top level.
    MissingOauth,
    /// No `accessToken` string inside `claudeAiOauth`.
    MissingAccessToken,
    /// A scope the CLI needs is not in `scopes`.
    MissingScope(String),
    /// `expiresAt` lies in the past.
    Expired { expires_at_ms: u64 },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::InvalidJson { line, column } => write!(
                f,
                "credentials are not valid JSON (parsing stopped at line {line}, column {column})"
            ),
            Problem::MissingOauth => write!(f, "credentials have no claudeAiOauth object"),
            Problem::MissingAccessToken => {
                write!(f, "credentials have no claudeAiOauth.accessToken")
            }
            Problem::MissingScope(scope) => {
                write!(f, "credentials lack the scope {}", printable(scope))
            }
            Problem::Expired { expires_at_ms } => write!(
                f,
                "access token expired at {} (Claude Code may refresh it on first use)",
                utc_timestamp(*expires_at_ms)
            ),
        }
    }
}

/// The verdict on one credentials file: empty when nothing is wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnosis {
    pub problems: Vec<Problem>,
}

impl Diagnosis {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The one hint that fixes every problem found, if any: a refresh on
    /// the host renews an expired token; anything else needs a new login,
    /// which rewrites the whole file with fresh scopes and tokens.
    pub fn hint(&self) -> Option<&'static str> {
        let expired_only = |problem: &Problem| matches!(problem, Problem::Expired { .. });
        if self.is_ok() {
            None
        } else if self.problems.iter().all(expired_only) {
            Some(REFRESH_HINT)
        } else {
            Some(LOGIN_HINT)
        }
    }
}

/// Writes one problem per line, without a trailing newline.
impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// Diagnoses a credentials file given as bytes, at time `now_ms` (epoch
/// milliseconds), against the scopes in `required`.
pub fn diagnose(bytes: &[u8], now_ms: u64, required: &[String]) -> Diagnosis {
    let mut problems = Vec::new();
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(err) => {
            problems.push(Problem::InvalidJson {
                line: err.line(),
                column: err.column(),
            });
            return Diagnosis { problems };
        }
    };
    let Some(oauth) = value.get("claudeAiOauth").filter(|v| v.is_object()) else {
        problems.push(Problem::MissingOauth);
        return Diagnosis { problems };
    };

    if !oauth.get("accessToken").is_some_and(|v| v.is_string()) {
        problems.push(Problem::MissingAccessToken);
    }
    let granted = granted_scopes(oauth);
    for scope in required {
        if !granted.contains(&scope.as_str()) {
            problems.push(Problem::MissingScope(scope.clone()));
        }
    }
    if let Some(expires_at_ms) = oauth.get("expiresAt").and_then(serde_json::Value::as_u64)
        && expires_at_ms < now_ms
    {
        problems.push(Problem::Expired { expires_at_ms });
    }
    Diagnosis { problems }
}

/// The string entries of `scopes`; a missing or malformed list grants none.
fn granted_scopes(oauth: &serde_json::Value) -> Vec<&str> {
    oauth
        .get("scopes")
        .and_then(serde_json::Value::as_array)
        .map(|scopes| {
            scopes
                .iter()
                .filter_map(serde_json::Value::as_str)
                .collect()
        })
        .unwrap_or_default()
}

/// Parses a comma-separated scope list (`JIB_REQUIRED_SCOPES`); blanks are
/// dropped, so an empty string requires nothing.
pub fn parse_scope_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|scope| !scope.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The default required scopes as owned strings.
pub fn default_required_scopes() -> Vec<String> {
    DEFAULT_REQUIRED_SCOPES
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

/// Keeps a scope name on one line and free of terminal escapes.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Formats epoch milliseconds as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc_timestamp(epoch_ms: u64) -> String {
    let seconds = epoch_ms / 1000;
    let (year, month, day) = civil_from_days(seconds / 86_400);
    let of_day = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Converts days since 1970-01-01 to a proleptic Gregorian date, counting in
/// 400-year eras of 146 097 days (the calendar repeats after each era).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so that leap days fall at a year's end.
    let days = days + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: u64 = 1_700_000_000_000;

    fn file(scopes: &[&str], expires_at: u64) -> Vec<u8> {
        serde_json::json!({
            "claudeAiOauth": {
                "accessToken": "fake-access",
                "refreshToken": "fake-refresh",
                "expiresAt": expires_at,
                "scopes": scopes,
                "subscriptionType": "pro",
            }
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn complete_file_has_no_problem() {
        let bytes = file(&DEFAULT_REQUIRED_SCOPES, NOW + 1);
        let diagnosis = diagnose(&bytes, NOW, &default_required_scopes());
        assert!(diagnosis.is_ok(), "{diagnosis}");
        assert_eq!(diagnosis.hint(), None);
    }

    #[test]
    fn old_login_names_the_missing_scope() {
        let bytes = file(&["user:inference", "user:profile"], NOW + 1);
        let diagnosis = diagnose(&bytes, NOW, &default_required_scopes());
        assert_eq!(
            diagnosis.problems,
            [Problem::MissingScope("user:sessions:claude_code".into())]
        );
        assert!(diagnosis.to_string().contains("user:sessions:claude_code"));
        assert_eq!(diagnosis.hint(), Some(LOGIN_HINT));
    }

    #[test]
    fn expired_token_is_reported_with_its_date() {
        let bytes = file(&DEFAULT_REQUIRED_SCOPES, 1_000);
        let diagnosis = diagnose(&bytes, NOW, &default_required_scopes());
        assert_eq!(
            diagnosis.problems,
            [Problem::Expired {
                expires_at_ms: 1_000
            }]
        );
        assert!(diagnosis.to_string().contains("1970-01-01 00:00:01 UTC"));
        assert_eq!(diagnosis.hint(), Some(REFRESH_HINT));
    }

    #[test]
    fn invalid_json_gives_position_not_content() {
        let diagnosis = diagnose(b"{\"accessToken\": secret-token", NOW, &[]);
        assert!(matches!(
            diagnosis.problems[..],
            [Problem::InvalidJson { .. }]
        ));
        assert!(!diagnosis.to_string().contains("secret"));
    }

    #[test]
    fn missing_object_and_token_are_reported() {
        let diagnosis = diagnose(b"[]", NOW, &[]);
        assert_eq!(diagnosis.problems, [Problem::MissingOauth]);
        let diagnosis = diagnose(br#"{"claudeAiOauth":{"scopes":"x"}}"#, NOW, &["a".into()]);
        assert_eq!(
            diagnosis.problems,
            [
                Problem::MissingAccessToken,
                Problem::MissingScope("a".into())
            ]
        );
    }

    #[test]
    fn scope_list_drops_blanks() {
        assert_eq!(parse_scope_list(" a, ,b,"), ["a", "b"]);
        assert!(parse_scope_list("").is_empty());
    }

    #[test]
    fn dates_match_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(utc_timestamp(1_700_000_000_000), "2023-11-14 22:13:20 UTC");
        // The largest timestamp must not overflow.
        let _ = utc_timestamp(u64::MAX);
    }

    proptest! {
        #[test]
        fn diagnose_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512),
                                 now in any::<u64>()) {
            let diagnosis = diagnose(&bytes, now, &default_required_scopes());
            prop_assert!(!diagnosis.to_string().is_empty() || diagnosis.is_ok());
        }

        #[test]
        fn diagnose_never_panics_on_json_shapes(scopes in proptest::collection::vec(".*", 0..5),
                                                expires in any::<u64>(), now in any::<u64>()) {
            let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
            let diagnosis = diagnose(&file(&scopes, expires), now, &default_required_scopes());
            prop_assert!(!diagnosis.to_string().contains('\n') || diagnosis.problems.len() > 1);
        }
    }
}
