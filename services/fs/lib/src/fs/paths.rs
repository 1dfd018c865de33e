//! Paths: an absolute path split into validated components (no empty,
//! `.` or `..` component, no NUL, each at most `NAME_MAX` bytes).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::error::FsError;
use crate::records::NAME_MAX;

/// A path split into validated components.
pub(crate) fn components(path: &str) -> Result<Vec<&str>, FsError> {
    let invalid = |reason: &'static str| FsError::InvalidPath {
        path: path.to_string(),
        reason,
    };
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| invalid("not absolute"))?;
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for c in rest.split('/') {
        if c.is_empty() {
            return Err(invalid("empty component"));
        }
        if c == "." || c == ".." {
            return Err(invalid("'.' or '..' component"));
        }
        if c.len() > NAME_MAX {
            return Err(FsError::NameTooLong {
                name: c.to_string(),
                max: NAME_MAX,
            });
        }
        if c.bytes().any(|b| b == 0) {
            return Err(invalid("NUL byte"));
        }
        out.push(c);
    }
    Ok(out)
}

pub(crate) fn parent_and_name(path: &str) -> Result<(String, &str), FsError> {
    let comps = components(path)?;
    let Some((name, dirs)) = comps.split_last() else {
        return Err(FsError::InvalidPath {
            path: path.to_string(),
            reason: "is the root",
        });
    };
    let mut parent = String::new();
    for d in dirs {
        parent.push('/');
        parent.push_str(d);
    }
    if parent.is_empty() {
        parent.push('/');
    }
    Ok((parent, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_components() {
        assert_eq!(components("/").unwrap(), Vec::<&str>::new());
        assert_eq!(components("/a/b").unwrap(), vec!["a", "b"]);
        assert!(components("a/b").is_err());
        assert!(components("/a//b").is_err());
        assert!(components("/a/").is_err());
        assert!(components("/a/../b").is_err());
        assert!(components("/a/./b").is_err());
        assert!(components("/a\0").is_err());
        let long = alloc::format!("/{}", "x".repeat(NAME_MAX + 1));
        assert!(matches!(
            components(&long),
            Err(FsError::NameTooLong { .. })
        ));
        assert_eq!(parent_and_name("/a/b").unwrap(), ("/a".to_string(), "b"));
        assert_eq!(parent_and_name("/a").unwrap(), ("/".to_string(), "a"));
        assert!(parent_and_name("/").is_err());
    }
}
