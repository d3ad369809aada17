//! `WWW-Authenticate` challenges (RFC 7235 section 4.1).
//!
//! A header may hold several challenges separated by commas, and a quoted
//! parameter value may itself contain commas, `=` and backslash-escaped
//! quotes; so the header is read with a small scanner rather than split.

/// One challenge: its scheme (lowercased) and its parameters (names lowercased,
/// values unquoted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Parses every challenge in a header value; malformed tails are dropped.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut scanner = Scanner { rest: header };
    let mut challenges: Vec<Challenge> = Vec::new();
    loop {
        scanner.skip_separators();
        let Some(word) = scanner.token() else { break };
        scanner.skip_spaces();
        if scanner.peek() == Some('=') && !challenges.is_empty() {
            // `word=value`: a parameter of the current challenge.
            scanner.bump();
            scanner.skip_spaces();
            let Some(value) = scanner.value() else { break };
            if let Some(current) = challenges.last_mut() {
                current.params.push((word.to_ascii_lowercase(), value));
            }
        } else {
            challenges.push(Challenge {
                scheme: word.to_ascii_lowercase(),
                params: Vec::new(),
            });
        }
    }
    challenges
}

struct Scanner<'a> {
    rest: &'a str,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.rest = &self.rest[c.len_utf8()..];
        Some(c)
    }

    fn skip_spaces(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t']);
    }

    fn skip_separators(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t', ',']);
    }

    /// An RFC 7230 token (token68 characters are accepted too, since some
    /// servers put them in unquoted values).
    fn token(&mut self) -> Option<String> {
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~/:".contains(c)))
            .unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let (token, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(token.to_string())
    }

    fn value(&mut self) -> Option<String> {
        if self.peek() != Some('"') {
            return self.token().or(Some(String::new()));
        }
        self.bump();
        let mut value = String::new();
        loop {
            match self.bump()? {
                '"' => return Some(value),
                '\\' => value.push(self.bump()?),
                c => value.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_with_quoted_commas_keeps_values_intact() {
        let header = r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#;
        let challenges = parse_challenges(header);
        assert_eq!(challenges.len(), 1);
        let bearer = &challenges[0];
        assert_eq!(bearer.scheme, "bearer");
        assert_eq!(bearer.param("realm"), Some("https://auth.example/token"));
        assert_eq!(bearer.param("service"), Some("registry.example"));
        assert_eq!(bearer.param("scope"), Some("repository:a/b:pull,push"));
    }

    #[test]
    fn escaped_quotes_spaces_and_several_challenges() {
        let header = r#"Basic realm="say \"hi\", please" , Bearer Realm = "http://127.0.0.1:1/t", error=invalid_token"#;
        let challenges = parse_challenges(header);
        assert_eq!(challenges.len(), 2, "{challenges:?}");
        assert_eq!(challenges[0].scheme, "basic");
        assert_eq!(challenges[0].param("realm"), Some(r#"say "hi", please"#));
        assert_eq!(challenges[1].scheme, "bearer");
        assert_eq!(challenges[1].param("realm"), Some("http://127.0.0.1:1/t"));
        assert_eq!(challenges[1].param("error"), Some("invalid_token"));
    }

    #[test]
    fn bare_scheme_and_garbage_do_not_panic() {
        assert_eq!(parse_challenges("Basic")[0].scheme, "basic");
        assert!(parse_challenges("").is_empty());
        for junk in [
            "\"",
            "=",
            "Bearer realm=\"unterminated",
            ",,,",
            "Bearer a=\\",
        ] {
            let _ = parse_challenges(junk);
        }
    }
}
