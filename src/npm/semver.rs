//! Versions and ranges with npm's semantics, for the forms specs use.
//!
//! Supported: exact versions (`1.2.3`, `=1.2.3`, `v1.2.3`), comparators
//! (`>`, `>=`, `<`, `<=`), caret and tilde ranges, x-ranges (`1.x`, `1.2.*`,
//! `1`, `*`, empty), hyphen ranges (`1.2.3 - 2.0.0`), space-separated
//! intersections and `||` unions. As in npm, a pre-release version satisfies
//! a range only when one comparator of the matching set names a pre-release
//! of the same `major.minor.patch`. The `semver` crate implements Cargo's
//! rules, which differ from npm's for `^0.x`, bare `1.2.3` and pre-releases.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// Dot-separated pre-release identifiers; empty for a release.
    pub pre: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SemverError {
    #[error("'{0}' is not a version (major.minor.patch)")]
    Version(String),
    #[error("'{0}' is not a version range")]
    Range(String),
}

impl FromStr for Version {
    type Err = SemverError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let bad = || SemverError::Version(raw.to_string());
        let s = raw.trim().trim_start_matches(['=', 'v']);
        let s = s.split('+').next().unwrap_or_default();
        let (core, pre) = match s.split_once('-') {
            Some((core, pre)) if !pre.is_empty() => {
                (core, pre.split('.').map(String::from).collect())
            }
            Some(_) => return Err(bad()),
            None => (s, Vec::new()),
        };
        let nums: Vec<u64> = core
            .split('.')
            .map(|p| p.parse::<u64>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        let [major, minor, patch] = nums[..] else {
            return Err(bad());
        };
        Ok(Version {
            major,
            minor,
            patch,
            pre,
        })
    }
}

impl Version {
    fn triple(&self) -> (u64, u64, u64) {
        (self.major, self.minor, self.patch)
    }

    fn new(major: u64, minor: u64, patch: u64) -> Self {
        Version {
            major,
            minor,
            patch,
            pre: Vec::new(),
        }
    }

    /// The lowest pre-release of this triple, for exclusive upper bounds
    /// (`<2.0.0-0` keeps `2.0.0-beta` out of `^1`).
    fn lowest(major: u64, minor: u64, patch: u64) -> Self {
        Version {
            major,
            minor,
            patch,
            pre: vec!["0".to_string()],
        }
    }
}

fn compare_identifiers(a: &str, b: &str) -> Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.triple().cmp(&other.triple()).then_with(|| {
            match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        let ord = compare_identifiers(a, b);
                        if ord != Ordering::Equal {
                            return ord;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            }
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre.join("."))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({self})")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Comparator {
    op: Op,
    version: Version,
}

impl Comparator {
    fn test(&self, v: &Version) -> bool {
        let ord = v.cmp(&self.version);
        match self.op {
            Op::Lt => ord == Ordering::Less,
            Op::Le => ord != Ordering::Greater,
            Op::Gt => ord == Ordering::Greater,
            Op::Ge => ord != Ordering::Less,
            Op::Eq => ord == Ordering::Equal,
        }
    }
}

/// A union of comparator sets (`a b || c`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    sets: Vec<Vec<Comparator>>,
}

/// A partial version as written in a range: missing or `x`/`*` parts are `None`.
struct Partial {
    major: Option<u64>,
    minor: Option<u64>,
    patch: Option<u64>,
    pre: Vec<String>,
}

fn parse_partial(raw: &str, whole: &str) -> Result<Partial, SemverError> {
    let bad = || SemverError::Range(whole.to_string());
    let s = raw.trim_start_matches(['=', 'v']);
    let s = s.split('+').next().unwrap_or_default();
    let (core, pre) = match s.split_once('-') {
        Some((core, pre)) => (core, pre.split('.').map(String::from).collect()),
        None => (s, Vec::new()),
    };
    let mut parts = core.split('.');
    let mut next = || -> Result<Option<u64>, SemverError> {
        match parts.next() {
            None | Some("x" | "X" | "*") => Ok(None),
            Some(p) => p.parse().map(Some).map_err(|_| bad()),
        }
    };
    let (major, minor, patch) = (next()?, next()?, next()?);
    if parts.next().is_some() || (major.is_none() && minor.is_some()) {
        return Err(bad());
    }
    if minor.is_none() && patch.is_some() {
        return Err(bad());
    }
    Ok(Partial {
        major,
        minor,
        patch,
        pre,
    })
}

impl Partial {
    fn floor(&self) -> Version {
        Version {
            major: self.major.unwrap_or(0),
            minor: self.minor.unwrap_or(0),
            patch: self.patch.unwrap_or(0),
            pre: self.pre.clone(),
        }
    }

    fn is_full(&self) -> bool {
        self.patch.is_some()
    }
}

fn cmp(op: Op, version: Version) -> Comparator {
    Comparator { op, version }
}

/// The comparators of one range term (`^1.2`, `>=3`, `1.x`, ...).
fn expand_term(term: &str, whole: &str) -> Result<Vec<Comparator>, SemverError> {
    let (op, rest) = split_operator(term);
    let p = parse_partial(rest, whole)?;
    let Some(major) = p.major else {
        // `*`, `x`, `>=*`: anything (`<*` would match nothing; refuse it).
        return match op {
            "" | "=" | ">=" | "^" | "~" => Ok(vec![cmp(Op::Ge, Version::new(0, 0, 0))]),
            _ => Err(SemverError::Range(whole.to_string())),
        };
    };
    let floor = p.floor();
    let out = match op {
        "^" => {
            let upper = match (major, p.minor, p.patch) {
                (0, Some(0), Some(patch)) if p.is_full() => Version::lowest(0, 0, patch + 1),
                (0, Some(minor), _) => Version::lowest(0, minor + 1, 0),
                _ => Version::lowest(major + 1, 0, 0),
            };
            vec![cmp(Op::Ge, floor), cmp(Op::Lt, upper)]
        }
        "~" => {
            let upper = match p.minor {
                Some(minor) => Version::lowest(major, minor + 1, 0),
                None => Version::lowest(major + 1, 0, 0),
            };
            vec![cmp(Op::Ge, floor), cmp(Op::Lt, upper)]
        }
        "" | "=" if p.is_full() => vec![cmp(Op::Eq, floor)],
        "" | "=" => vec![cmp(Op::Ge, floor), cmp(Op::Lt, bump(&p))],
        ">=" => vec![cmp(Op::Ge, floor)],
        "<" => vec![cmp(Op::Lt, floor_for_less(&p))],
        ">" if p.is_full() => vec![cmp(Op::Gt, floor)],
        ">" => {
            let past = bump(&p);
            vec![cmp(Op::Ge, Version::new(past.major, past.minor, 0))]
        }
        "<=" if p.is_full() => vec![cmp(Op::Le, floor)],
        "<=" => vec![cmp(Op::Lt, bump(&p))],
        _ => return Err(SemverError::Range(whole.to_string())),
    };
    Ok(out)
}

/// The first version past an x-range (`1.2.x` → `1.3.0-0`).
fn bump(p: &Partial) -> Version {
    let major = p.major.unwrap_or(0);
    match p.minor {
        Some(minor) => Version::lowest(major, minor + 1, 0),
        None => Version::lowest(major + 1, 0, 0),
    }
}

fn floor_for_less(p: &Partial) -> Version {
    if p.is_full() {
        p.floor()
    } else {
        Version::lowest(p.major.unwrap_or(0), p.minor.unwrap_or(0), 0)
    }
}

fn split_operator(term: &str) -> (&str, &str) {
    for op in [">=", "<=", ">", "<", "=", "^", "~"] {
        if let Some(rest) = term.strip_prefix(op) {
            // `~>` is an old alias of `~`.
            let rest = rest.strip_prefix('>').filter(|_| op == "~").unwrap_or(rest);
            return (op, rest.trim_start());
        }
    }
    ("", term)
}

/// Joins operators separated from their version by spaces (`>= 1.2`).
fn tokens(set: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut pending = String::new();
    for word in set.split_whitespace() {
        if word.chars().all(|c| "<>=^~".contains(c)) {
            pending.push_str(word);
        } else {
            out.push(format!("{pending}{word}"));
            pending.clear();
        }
    }
    if !pending.is_empty() {
        out.push(pending);
    }
    out
}

fn parse_set(set: &str, whole: &str) -> Result<Vec<Comparator>, SemverError> {
    let words = tokens(set);
    if let [low, dash, high] = &words[..]
        && dash == "-"
    {
        let low = parse_partial(low, whole)?;
        let high = parse_partial(high, whole)?;
        let upper = if high.is_full() {
            cmp(Op::Le, high.floor())
        } else {
            cmp(Op::Lt, bump(&high))
        };
        return Ok(vec![cmp(Op::Ge, low.floor()), upper]);
    }
    if words.is_empty() {
        return Ok(vec![cmp(Op::Ge, Version::new(0, 0, 0))]);
    }
    let mut out = Vec::new();
    for word in &words {
        out.extend(expand_term(word, whole)?);
    }
    Ok(out)
}

impl FromStr for Range {
    type Err = SemverError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let sets = s
            .split("||")
            .map(|set| parse_set(set.trim(), s))
            .collect::<Result<_, _>>()?;
        Ok(Range { sets })
    }
}

impl Range {
    pub fn matches(&self, v: &Version) -> bool {
        self.sets.iter().any(|set| set_matches(set, v))
    }

    /// The highest of `versions` inside the range.
    pub fn max_satisfying<'a>(
        &self,
        versions: impl IntoIterator<Item = &'a Version>,
    ) -> Option<&'a Version> {
        versions.into_iter().filter(|v| self.matches(v)).max()
    }
}

fn set_matches(set: &[Comparator], v: &Version) -> bool {
    if !set.iter().all(|c| c.test(v)) {
        return false;
    }
    // npm's pre-release rule: `1.3.0-beta` is only in a range that opts in
    // through a comparator on a pre-release of the same triple. The `-0`
    // upper bounds never opt in: they exclude their own triple entirely.
    v.pre.is_empty()
        || set
            .iter()
            .any(|c| !c.version.pre.is_empty() && c.version.triple() == v.triple())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn versions_order_like_semver() {
        let mut list = [
            v("1.0.0"),
            v("1.0.0-beta.2"),
            v("1.0.0-alpha"),
            v("1.0.0-beta.11"),
            v("0.9.9"),
        ];
        list.sort();
        let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "0.9.9",
                "1.0.0-alpha",
                "1.0.0-beta.2",
                "1.0.0-beta.11",
                "1.0.0"
            ]
        );
    }

    #[test]
    fn range_table() {
        let table: &[(&str, &str, bool)] = &[
            ("2.1.332", "2.1.332", true),
            ("2.1.332", "2.1.331", false),
            ("=2.1.332", "2.1.332", true),
            ("v2.1.332", "2.1.332", true),
            ("^2.1.0", "2.9.0", true),
            ("^2.1.0", "3.0.0", false),
            ("^2.1.0", "2.0.9", false),
            ("^0.2.3", "0.2.9", true),
            ("^0.2.3", "0.3.0", false),
            ("^0.0.3", "0.0.4", false),
            ("^0.0.3", "0.0.3", true),
            ("^2", "2.99.1", true),
            ("~2.1.3", "2.1.9", true),
            ("~2.1.3", "2.2.0", false),
            ("~2", "2.9.0", true),
            ("~2", "3.0.0", false),
            (">=2.1.0", "10.0.0", true),
            (">= 2.1.0", "2.0.0", false),
            (">2.1.0", "2.1.0", false),
            ("<2.1.0", "2.0.9", true),
            ("<=2.1.0", "2.1.0", true),
            (">=1.0.0 <2.0.0", "1.5.0", true),
            (">=1.0.0 <2.0.0", "2.0.0", false),
            ("2.x", "2.4.1", true),
            ("2.x", "3.0.0", false),
            ("2.1.*", "2.1.7", true),
            ("2.1.*", "2.2.0", false),
            ("2", "2.3.4", true),
            ("*", "5.0.0", true),
            ("", "5.0.0", true),
            ("x", "0.0.1", true),
            ("1.0.0 - 2.0.0", "2.0.0", true),
            ("1.0.0 - 2.0.0", "2.0.1", false),
            ("1.0.0 - 2", "2.9.9", true),
            ("^1.0.0 || ^3.0.0", "3.1.0", true),
            ("^1.0.0 || ^3.0.0", "2.1.0", false),
            ("<2", "2.0.0", false),
            ("<2", "1.9.9", true),
            (">2", "2.9.9", false),
            (">2", "3.0.0", true),
            // Pre-releases only inside ranges that name one of the same triple.
            ("^2.0.0", "2.1.0-beta.1", false),
            ("^2.1.0-beta.0", "2.1.0-beta.1", true),
            ("^2.1.0-beta.0", "2.2.0-beta.1", false),
            ("^1", "2.0.0-0", false),
            ("*", "1.0.0-rc.1", false),
            ("2.1.0-rc.1", "2.1.0-rc.1", true),
        ];
        for (range, version, expected) in table {
            let parsed: Range = range.parse().unwrap_or_else(|e| panic!("{range}: {e}"));
            assert_eq!(
                parsed.matches(&v(version)),
                *expected,
                "{version} in '{range}'"
            );
        }
    }

    #[test]
    fn max_satisfying_picks_the_highest() {
        let versions = [
            v("2.0.0"),
            v("2.1.5"),
            v("2.1.332"),
            v("3.0.0"),
            v("2.2.0-beta.1"),
        ];
        let range: Range = "^2.1".parse().unwrap();
        assert_eq!(range.max_satisfying(&versions), Some(&v("2.1.332")));
    }

    #[test]
    fn garbage_is_refused() {
        for bad in ["latest", "1.2.3.4", "^x.1", ">=abc", "1.x.3"] {
            assert!(bad.parse::<Range>().is_err(), "{bad}");
        }
        assert!("1.2".parse::<Version>().is_err());
    }
}
