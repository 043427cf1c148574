//! Path rules, as ZooKeeper's `PathUtils.validatePath` applies them.

/// Why a path is refused (all answered with BadArguments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPath(pub &'static str);

/// Check a path. `sequential` allows the trailing `/` of a sequential create
/// (the counter is appended to it).
pub fn validate(path: &str, sequential: bool) -> Result<(), InvalidPath> {
    if path.is_empty() {
        return Err(InvalidPath("path length must be > 0"));
    }
    if !path.starts_with('/') {
        return Err(InvalidPath("path must start with / character"));
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') && !sequential {
        return Err(InvalidPath("path must not end with / character"));
    }
    // With a sequential create the last segment may be empty: "/a/" + counter.
    let checked = if sequential {
        path.strip_suffix('/').unwrap_or(path)
    } else {
        path
    };
    for segment in checked[1..].split('/') {
        match segment {
            "" => return Err(InvalidPath("empty node name specified")),
            "." | ".." => return Err(InvalidPath("relative paths not allowed")),
            _ => {}
        }
        if segment.chars().any(invalid_char) {
            return Err(InvalidPath("invalid character"));
        }
    }
    Ok(())
}

/// Characters ZooKeeper refuses in a path.
fn invalid_char(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        // Rust strings cannot hold surrogates (U+D800..DFFF): the rest of ZooKeeper's range.
        | '\u{e000}'..='\u{f8ff}'
        | '\u{fff0}'..='\u{ffff}'
        // Java holds a character past U+FFFF as a surrogate pair, which the
        // check above refuses: so does ZooKeeper every such character.
        | '\u{10000}'..='\u{10ffff}')
}

/// The parent of a valid, non-root path.
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The last segment of a valid, non-root path.
pub fn name(path: &str) -> &str {
    path.rfind('/').map_or(path, |i| &path[i + 1..])
}

/// `parent` + "/" + `name`, without doubling the root's slash.
pub fn join(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// Whether `path` is `ancestor` or below it.
pub fn is_within(path: &str, ancestor: &str) -> bool {
    ancestor == "/"
        || path == ancestor
        || (path.starts_with(ancestor) && path.as_bytes().get(ancestor.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_paths() {
        for ok in ["/", "/a", "/a/b", "/zookeeper/quota", "/a b/c-d_e.f", "/é"] {
            assert_eq!(validate(ok, false), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "a",
            "/a/",
            "//",
            "/a//b",
            "/a/./b",
            "/..",
            "/a/\u{0}",
            "/a\u{1}",
            "/\u{fff5}",
        ] {
            assert!(validate(bad, false).is_err(), "{bad:?}");
        }
        assert_eq!(validate("/a/", true), Ok(()));
        assert!(validate("/a//", true).is_err());
    }

    #[test]
    fn parent_name_join() {
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/a/b/c"), "/a/b");
        assert_eq!(name("/a/b/c"), "c");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert!(is_within("/a/b", "/a"));
        assert!(is_within("/a", "/a"));
        assert!(!is_within("/ab", "/a"));
        assert!(is_within("/x", "/"));
    }
}
