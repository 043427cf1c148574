//! ACL checks and ACL fix-up, as ZooKeeper's `checkACL` and `fixupACL` do them.
//! Pure functions: the identities of the requesting session come in as data.

use base64::Engine;
use jute::{Acl, Id};
use sha1::{Digest, Sha1};

/// The identity the super user is given once authenticated.
pub const SUPER: &str = "super";

/// Whether `auth` (a session's authenticated ids) holds `perm` under `acl`.
pub fn allowed(acl: &[Acl], auth: &[Id], perm: i32) -> bool {
    if acl.is_empty() || auth.iter().any(|id| id.scheme == SUPER) {
        return true;
    }
    acl.iter().filter(|a| a.perms & perm != 0).any(|a| {
        (a.id.scheme == "world" && a.id.id == "anyone")
            || auth
                .iter()
                .any(|who| who.scheme == a.id.scheme && matches(&who.scheme, &who.id, &a.id.id))
    })
}

/// Whether an authenticated id satisfies an ACL id of the same scheme.
fn matches(scheme: &str, have: &str, want: &str) -> bool {
    match scheme {
        "ip" => ip_matches(have, want),
        _ => have == want,
    }
}

/// `ip:10.0.0.0/8` style matching of a client address against an ACL spec.
fn ip_matches(client: &str, spec: &str) -> bool {
    let (addr, bits) = match spec.split_once('/') {
        Some((a, b)) => match b.parse::<u32>() {
            Ok(bits) => (a, Some(bits)),
            Err(_) => return false,
        },
        None => (spec, None),
    };
    let (Ok(client), Ok(addr)) = (
        client.parse::<std::net::IpAddr>(),
        addr.parse::<std::net::IpAddr>(),
    ) else {
        return false;
    };
    let (c, a, width) = match (client, addr) {
        (std::net::IpAddr::V4(c), std::net::IpAddr::V4(a)) => {
            (u128::from(u32::from(c)), u128::from(u32::from(a)), 32)
        }
        (std::net::IpAddr::V6(c), std::net::IpAddr::V6(a)) => (u128::from(c), u128::from(a), 128),
        _ => return false,
    };
    let bits = bits.unwrap_or(width).min(width);
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (c >> shift) == (a >> shift)
}

fn valid_ip_spec(spec: &str) -> bool {
    let (addr, bits) = spec
        .split_once('/')
        .map_or((spec, None), |(a, b)| (a, Some(b)));
    let Ok(ip) = addr.parse::<std::net::IpAddr>() else {
        return false;
    };
    let width = if ip.is_ipv4() { 32 } else { 128 };
    bits.is_none_or(|b| b.parse::<u32>().is_ok_and(|b| b <= width))
}

/// Validate an ACL list for create/setACL and expand the `auth` scheme into
/// the session's authenticated ids. `None` means InvalidACL.
pub fn fixup(acl: &[Acl], auth: &[Id]) -> Option<Vec<Acl>> {
    if acl.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(acl.len());
    for entry in acl {
        match entry.id.scheme.as_str() {
            "world" if entry.id.id == "anyone" => out.push(entry.clone()),
            "auth" => {
                // Every authenticated identity except the implicit ip one and super.
                let mut any = false;
                for who in auth
                    .iter()
                    .filter(|w| w.scheme != "ip" && w.scheme != SUPER)
                {
                    any = true;
                    out.push(Acl {
                        perms: entry.perms,
                        id: who.clone(),
                    });
                }
                if !any {
                    return None;
                }
            }
            "digest" if entry.id.id.contains(':') => out.push(entry.clone()),
            "ip" if valid_ip_spec(&entry.id.id) => out.push(entry.clone()),
            "sasl" if !entry.id.id.is_empty() => out.push(entry.clone()),
            _ => return None,
        }
    }
    // ZooKeeper drops exact duplicates (it builds the list as a set).
    let mut unique: Vec<Acl> = Vec::with_capacity(out.len());
    for a in out {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    Some(unique)
}

/// `user:password` → the digest id `user:base64(sha1(user:password))`.
pub fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or_default();
    let hash = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use jute::perms;

    fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
        Acl {
            perms,
            id: Id::new(scheme, id),
        }
    }

    #[test]
    fn digest_matches_zookeepers_generator() {
        // DigestAuthenticationProvider.generateDigest("super:test"), as in ZooKeeper's docs.
        assert_eq!(
            digest_id("super:test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
    }

    #[test]
    fn world_digest_ip_and_super() {
        let me = vec![Id::new("ip", "127.0.0.1"), Id::new("digest", "u:h")];
        assert!(allowed(&Acl::open_unsafe(), &[], perms::ALL));
        assert!(allowed(
            &[acl(perms::READ, "digest", "u:h")],
            &me,
            perms::READ
        ));
        assert!(!allowed(
            &[acl(perms::READ, "digest", "u:h")],
            &me,
            perms::WRITE
        ));
        assert!(!allowed(
            &[acl(perms::ALL, "digest", "v:h")],
            &me,
            perms::READ
        ));
        assert!(allowed(
            &[acl(perms::ALL, "ip", "127.0.0.0/8")],
            &me,
            perms::READ
        ));
        assert!(!allowed(
            &[acl(perms::ALL, "ip", "10.0.0.0/8")],
            &me,
            perms::READ
        ));
        assert!(allowed(
            &[acl(perms::ALL, "digest", "v:h")],
            &[Id::new(SUPER, "")],
            perms::ADMIN
        ));
    }

    #[test]
    fn fixup_expands_auth_and_rejects_bad_ids() {
        let me = vec![Id::new("ip", "127.0.0.1"), Id::new("digest", "u:h")];
        assert_eq!(
            fixup(&[acl(31, "auth", "")], &me),
            Some(vec![acl(31, "digest", "u:h")])
        );
        assert_eq!(fixup(&[acl(31, "auth", "")], &me[..1]), None);
        assert_eq!(fixup(&[], &me), None);
        assert_eq!(fixup(&[acl(31, "nope", "x")], &me), None);
        assert_eq!(fixup(&[acl(31, "world", "someone")], &me), None);
        assert_eq!(fixup(&[acl(31, "ip", "1.2.3.4/40")], &me), None);
    }
}
