//! Capabilities and the grants an admin gives a plugin.
//!
//! An action may use a capability only if its manifest asked for it *and*
//! the admin granted it; for `http.fetch` a URL must match both the hosts the
//! manifest named and the hosts the grant allows.

use super::bindings::WitCapability;
use std::collections::BTreeMap;
use std::fmt;

/// A capability, by the name admins grant it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Capability {
    /// `crm.read`
    #[serde(rename = "crm.read")]
    CrmRead,
    /// `crm.write`
    #[serde(rename = "crm.write")]
    CrmWrite,
    /// `mail.send`
    #[serde(rename = "mail.send")]
    MailSend,
    /// `http.fetch`
    #[serde(rename = "http.fetch")]
    HttpFetch,
    /// `notify.send`
    #[serde(rename = "notify.send")]
    NotifySend,
}

impl Capability {
    /// The name admins use: `crm.read`, `http.fetch`, …
    pub fn name(self) -> &'static str {
        match self {
            Capability::CrmRead => "crm.read",
            Capability::CrmWrite => "crm.write",
            Capability::MailSend => "mail.send",
            Capability::HttpFetch => "http.fetch",
            Capability::NotifySend => "notify.send",
        }
    }

    /// The capability with this name.
    pub fn parse(name: &str) -> Option<Capability> {
        [
            Capability::CrmRead,
            Capability::CrmWrite,
            Capability::MailSend,
            Capability::HttpFetch,
            Capability::NotifySend,
        ]
        .into_iter()
        .find(|c| c.name() == name)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a grant could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantsError {
    /// The capability name is not one robota knows.
    #[error(
        "unknown capability `{0}`: use crm.read, crm.write, mail.send, http.fetch=HOST[,HOST…] or notify.send"
    )]
    Unknown(String),
    /// `http.fetch` needs hosts.
    #[error("http.fetch needs an allow-list: http.fetch=api.example.com[,host:port…]")]
    NoHosts,
    /// A host entry is malformed.
    #[error("`{0}` is not a host or host:port")]
    BadHost(String),
}

/// A set of capabilities with their parameters (the HTTP allow-list).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    caps: BTreeMap<Capability, Vec<String>>,
}

impl Grants {
    /// No capabilities.
    pub fn none() -> Grants {
        Grants::default()
    }

    /// Parses grants as given on the command line or in config:
    /// `crm.read`, `http.fetch=api.example.com,127.0.0.1:8080`.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Grants, GrantsError> {
        let mut grants = Grants::default();
        for item in items {
            let item = item.as_ref().trim();
            let (name, params) = item
                .split_once('=')
                .map_or((item, None), |(n, p)| (n, Some(p)));
            let cap =
                Capability::parse(name).ok_or_else(|| GrantsError::Unknown(name.to_owned()))?;
            let hosts = match (cap, params) {
                (Capability::HttpFetch, None) => return Err(GrantsError::NoHosts),
                (Capability::HttpFetch, Some(p)) => parse_hosts(p)?,
                (_, Some(_)) => return Err(GrantsError::Unknown(item.to_owned())),
                (_, None) => Vec::new(),
            };
            grants.caps.entry(cap).or_default().extend(hosts);
        }
        Ok(grants)
    }

    /// Grants `cap` (with `hosts` for `http.fetch`).
    pub fn with(mut self, cap: Capability, hosts: &[&str]) -> Grants {
        self.caps
            .entry(cap)
            .or_default()
            .extend(hosts.iter().map(|h| h.to_lowercase()));
        self
    }

    /// The capabilities a manifest asked for, as grants.
    pub(crate) fn from_manifest(caps: &[WitCapability]) -> Grants {
        let mut g = Grants::default();
        for c in caps {
            let (cap, hosts) = match c {
                WitCapability::CrmRead => (Capability::CrmRead, Vec::new()),
                WitCapability::CrmWrite => (Capability::CrmWrite, Vec::new()),
                WitCapability::MailSend => (Capability::MailSend, Vec::new()),
                WitCapability::NotifySend => (Capability::NotifySend, Vec::new()),
                WitCapability::HttpFetch(hosts) => (
                    Capability::HttpFetch,
                    hosts.iter().map(|h| h.to_lowercase()).collect(),
                ),
            };
            g.caps.entry(cap).or_default().extend(hosts);
        }
        g
    }

    /// Whether `cap` is granted.
    pub fn has(&self, cap: Capability) -> bool {
        self.caps.contains_key(&cap)
    }

    /// The capabilities granted, in order.
    pub fn capabilities(&self) -> impl Iterator<Item = Capability> + '_ {
        self.caps.keys().copied()
    }

    /// The allow-list of `http.fetch`.
    pub fn http_hosts(&self) -> &[String] {
        self.caps
            .get(&Capability::HttpFetch)
            .map_or(&[], Vec::as_slice)
    }

    /// Whether a request to `host` on `port` is allowed: an entry `host`
    /// allows any port, `host:port` only that port.
    pub fn allows_host(&self, host: &str, port: u16) -> bool {
        let host = host.to_lowercase();
        self.http_hosts().iter().any(|entry| {
            let (h, p) = host_and_port(entry);
            h.trim_matches(['[', ']']) == host && p.is_none_or(|p| p.parse() == Ok(port))
        })
    }

    /// What both grant sets allow: the effective grants of a call. For
    /// `http.fetch` that is the intersection of the two allow-lists, ports
    /// included: `127.0.0.1:9001` asked for and `127.0.0.1` granted allows
    /// port 9001 only.
    pub fn intersect(&self, other: &Grants) -> Grants {
        let mut out = Grants::default();
        for (cap, hosts) in &self.caps {
            if let Some(other_hosts) = other.caps.get(cap) {
                let hosts = if *cap == Capability::HttpFetch {
                    let mut both: Vec<String> = hosts
                        .iter()
                        .flat_map(|a| other_hosts.iter().filter_map(|b| narrower(a, b)))
                        .collect();
                    both.sort();
                    both.dedup();
                    both
                } else {
                    Vec::new()
                };
                out.caps.insert(*cap, hosts);
            }
        }
        out
    }
}

/// The manifest entry that asks for whatever hosts the admin grants.
pub const ANY_HOST: &str = "*";

/// An allow-list entry split into its host and its port, if it names one
/// (`host:port`, `[v6]:port`; a bare IPv6 address such as `::1` has none).
fn host_and_port(entry: &str) -> (&str, Option<&str>) {
    match entry.rsplit_once(':') {
        Some((h, p))
            if !h.is_empty()
                && !p.is_empty()
                && p.chars().all(|c| c.is_ascii_digit())
                && (!h.contains(':') || (h.starts_with('[') && h.ends_with(']'))) =>
        {
            (h, Some(p))
        }
        _ => (entry, None),
    }
}

/// What two allow-list entries both allow: the entry with a port when one
/// names a port, nothing when they name other hosts or other ports.
fn narrower(a: &str, b: &str) -> Option<String> {
    // `*` in a manifest asks for the hosts the admin names (a service whose
    // address is configured per install, such as a company registry); the
    // admin's grant never holds `*` (parse_hosts refuses it).
    match (a, b) {
        (ANY_HOST, ANY_HOST) => return None,
        (ANY_HOST, named) | (named, ANY_HOST) => return Some(named.to_owned()),
        _ => {}
    }
    let (host_a, port_a) = host_and_port(a);
    let (host_b, port_b) = host_and_port(b);
    if host_a.trim_matches(['[', ']']) != host_b.trim_matches(['[', ']']) {
        return None;
    }
    match (port_a, port_b) {
        (Some(pa), Some(pb)) => (pa == pb).then(|| a.to_owned()),
        (Some(_), None) => Some(a.to_owned()),
        (None, _) => Some(b.to_owned()),
    }
}

fn parse_hosts(list: &str) -> Result<Vec<String>, GrantsError> {
    list.split(',')
        .map(|h| h.trim().to_lowercase())
        .map(|h| {
            let ok = !h.is_empty()
                && !h.contains('/')
                && !h.contains('*')
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
            if ok {
                Ok(h)
            } else {
                Err(GrantsError::BadHost(h))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_grants_and_hosts() {
        let g = Grants::parse(&["crm.read", "http.fetch=API.example.com,127.0.0.1:8080"])
            .expect("valid");
        assert!(g.has(Capability::CrmRead));
        assert!(!g.has(Capability::CrmWrite));
        assert!(g.allows_host("api.example.com", 443));
        assert!(g.allows_host("127.0.0.1", 8080));
        assert!(!g.allows_host("127.0.0.1", 8081));
        assert!(!g.allows_host("evil.example.com", 443));
    }

    #[test]
    fn bad_grants_are_refused_by_name() {
        assert_eq!(
            Grants::parse(&["crm.delete"]),
            Err(GrantsError::Unknown("crm.delete".into()))
        );
        assert_eq!(Grants::parse(&["http.fetch"]), Err(GrantsError::NoHosts));
        assert_eq!(
            Grants::parse(&["http.fetch=http://x/"]),
            Err(GrantsError::BadHost("http://x/".into()))
        );
    }

    #[test]
    fn effective_grants_are_what_both_allow() {
        let granted =
            Grants::parse(&["crm.read", "crm.write", "http.fetch=127.0.0.1:9000"]).expect("valid");
        let wanted = Grants::none()
            .with(Capability::CrmRead, &[])
            .with(Capability::HttpFetch, &["127.0.0.1", "example.com"]);
        let eff = granted.intersect(&wanted);
        assert!(eff.has(Capability::CrmRead));
        assert!(
            !eff.has(Capability::CrmWrite),
            "not asked for by the manifest"
        );
        assert!(eff.allows_host("127.0.0.1", 9000));
        assert!(
            !eff.allows_host("127.0.0.1", 9001),
            "the admin's port holds"
        );
        assert!(
            !eff.allows_host("example.com", 443),
            "asked for but not granted"
        );
    }

    #[test]
    fn a_port_asked_for_holds_when_the_grant_names_only_the_host() {
        let granted = Grants::parse(&["http.fetch=127.0.0.1,api.example.com:8443"]).expect("valid");
        let wanted = Grants::none().with(
            Capability::HttpFetch,
            &["127.0.0.1:9001", "api.example.com:443", "other.example.com"],
        );
        for eff in [granted.intersect(&wanted), wanted.intersect(&granted)] {
            assert!(eff.allows_host("127.0.0.1", 9001));
            assert!(
                !eff.allows_host("127.0.0.1", 9002),
                "the manifest's port holds"
            );
            assert!(!eff.allows_host("127.0.0.1", 80));
            assert!(
                !eff.allows_host("api.example.com", 443)
                    && !eff.allows_host("api.example.com", 8443),
                "the two name other ports: nothing is allowed"
            );
            assert!(!eff.allows_host("other.example.com", 443), "not granted");
            assert_eq!(eff.http_hosts(), ["127.0.0.1:9001"]);
        }
    }

    #[test]
    fn a_manifest_asking_for_any_host_gets_exactly_what_the_admin_names() {
        let granted = Grants::parse(&["http.fetch=127.0.0.1:9001"]).expect("valid");
        let wanted = Grants::none().with(Capability::HttpFetch, &[ANY_HOST]);
        for eff in [granted.intersect(&wanted), wanted.intersect(&granted)] {
            assert_eq!(eff.http_hosts(), ["127.0.0.1:9001"]);
            assert!(!eff.allows_host("127.0.0.1", 9002));
        }
        // The admin cannot grant `*`: a grant always names its hosts.
        assert!(Grants::parse(&["http.fetch=*"]).is_err());
    }
}
