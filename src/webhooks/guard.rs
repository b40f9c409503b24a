//! Where a webhook may be delivered. A target is an `https` URL whose host
//! resolves, at every attempt, only to public addresses: loopback, private,
//! link-local (the cloud metadata services), shared, reserved, multicast and
//! documentation ranges are refused, in IPv4, IPv6 and every IPv6 form that
//! carries an IPv4 address (mapped, compatible, NAT64, 6to4; Teredo is
//! refused whole). The operator allows more with `SIGNET_WEBHOOK_ALLOW`:
//! networks (CIDR) and host names, which may then also be plain `http`.
//!
//! The delivering client connects only to the addresses this module let
//! through ([`Resolver`]), so a name that resolves to a public address when
//! checked and to a private one when connected (DNS rebinding) is refused
//! too; it follows no redirect and uses no proxy.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

use crate::error::{Error, Result};

/// Longest target URL, in bytes.
pub const MAX_URL: usize = 2048;

/// What the operator allows beyond public `https` targets.
#[derive(Debug, Clone, Default)]
pub struct Allow {
    nets: Vec<IpNet>,
    /// Lower-case host names.
    hosts: Vec<String>,
}

impl Allow {
    /// `SIGNET_WEBHOOK_ALLOW`'s value: CIDRs and host names, separated by
    /// commas or spaces (a bare address is its own /32 or /128).
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let mut allow = Self::default();
        for item in s.split([',', ' ']).map(str::trim).filter(|i| !i.is_empty()) {
            if let Ok(net) = item.parse::<IpNet>() {
                allow.nets.push(net);
            } else if let Ok(ip) = item.parse::<IpAddr>() {
                allow.nets.push(IpNet::from(ip));
            } else if is_host_name(item) {
                allow.hosts.push(item.to_ascii_lowercase());
            } else {
                return Err(format!(
                    "SIGNET_WEBHOOK_ALLOW: {item:?} is neither a network (CIDR), an address nor \
                     a host name"
                ));
            }
        }
        Ok(allow)
    }

    fn host(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    fn address(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|n| n.contains(&ip))
    }
}

fn is_host_name(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// An IPv4 address an IPv6 form carries (mapped or compatible) as itself, so
/// the operator's IPv4 networks and the refusals apply to it.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.segments() {
            [0, 0, 0, 0, 0, 0xffff, ..] | [0, 0, 0, 0, 0, 0, _, _]
                if !v6.is_loopback() && !v6.is_unspecified() =>
            {
                IpAddr::V4(low_v4(v6))
            }
            _ => ip,
        },
        v4 => v4,
    }
}

fn low_v4(v6: Ipv6Addr) -> Ipv4Addr {
    let o = v6.octets();
    Ipv4Addr::new(o[12], o[13], o[14], o[15])
}

/// Why a webhook may not reach `ip`, when it may not.
pub fn refused(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (169, 254, 169) if ip.octets()[3] == 254 => "a cloud metadata address",
        (0, ..) => "a \"this network\" address",
        (10, ..) => "a private address",
        (100, 64..=127, _) => "a shared (carrier-grade NAT) address",
        (127, ..) => "a loopback address",
        (169, 254, _) => "a link-local address",
        (172, 16..=31, _) => "a private address",
        (192, 0, 0) => "an IETF protocol address",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation address",
        (192, 88, 99) => "a 6to4 relay address",
        (192, 168, _) => "a private address",
        (198, 18..=19, _) => "a benchmarking address",
        (224..=239, ..) => "a multicast address",
        (240..=255, ..) => "a reserved or broadcast address",
        _ => return None,
    })
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some("the unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    Some(match s {
        // NAT64 (RFC 6052's well-known prefix): the IPv4 address it reaches.
        [0x64, 0xff9b, 0, 0, 0, 0, ..] => return refused_v4(low_v4(ip)),
        [0x64, 0xff9b, 1, ..] => "a local-use NAT64 address",
        // 6to4: the IPv4 address in bits 16 to 48.
        [0x2002, hi, lo, ..] => {
            let [a, b] = hi.to_be_bytes();
            let [c, d] = lo.to_be_bytes();
            return refused_v4(Ipv4Addr::new(a, b, c, d));
        }
        [0x2001, 0, ..] => "a Teredo tunnel address",
        [0x2001, 0xdb8, ..] => "a documentation address",
        [0x0100, 0, 0, 0, ..] => "a discard-only address",
        [x, ..] if x & 0xfe00 == 0xfc00 => "a unique local (private) address",
        [x, ..] if x & 0xffc0 == 0xfe80 => "a link-local address",
        [x, ..] if x & 0xffc0 == 0xfec0 => "a site-local address",
        [x, ..] if x & 0xff00 == 0xff00 => "a multicast address",
        // Only 2000::/3 is global unicast; the rest is reserved.
        [x, ..] if x & 0xe000 != 0x2000 => "a reserved address",
        _ => return None,
    })
}

/// A checked target URL (its host's addresses are checked when resolved).
#[derive(Debug, Clone)]
pub struct Target {
    pub url: url::Url,
}

/// The delivery policy: what the operator allows.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    allow: Arc<Allow>,
}

impl Policy {
    pub fn new(allow: Allow) -> Self {
        Self {
            allow: Arc::new(allow),
        }
    }

    /// The URL as a target, or why it may not be one: its form (absolute
    /// `https`, no credentials, no fragment, at most [`MAX_URL`] bytes), and,
    /// where its host is an address, that address. Names are checked when
    /// resolved, at every attempt.
    pub fn target(&self, raw: &str) -> Result<Target> {
        let bad = |why: &str| Error::invalid(format!("webhook url: {why}"));
        if raw.len() > MAX_URL {
            return Err(bad(&format!("longer than {MAX_URL} bytes")));
        }
        let url = url::Url::parse(raw).map_err(|e| bad(&format!("not an absolute URL ({e})")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "credentials in the URL are refused (they would be stored and shown in the \
                 clear; the receiver checks the signature instead)",
            ));
        }
        if url.fragment().is_some() {
            return Err(bad("a fragment is never sent; remove it"));
        }
        let host = url.host().ok_or_else(|| bad("no host"))?;
        let allowed = match &host {
            url::Host::Domain(d) => self.allow.host(d),
            url::Host::Ipv4(ip) => self.allow.address(IpAddr::V4(*ip)),
            url::Host::Ipv6(ip) => self.allow.address(IpAddr::V6(*ip)),
        };
        match url.scheme() {
            "https" => {}
            "http" if allowed => {}
            "http" => {
                return Err(bad(
                    "http is allowed only for hosts the operator allows (SIGNET_WEBHOOK_ALLOW); \
                     use https",
                ));
            }
            other => return Err(bad(&format!("scheme {other} (https only)"))),
        }
        let literal = match host {
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            url::Host::Domain(_) => None,
        };
        if let Some(ip) = literal
            && !allowed
            && let Some(why) = refused(ip)
        {
            return Err(bad(&format!(
                "{ip} is {why} (the operator allows such targets with SIGNET_WEBHOOK_ALLOW)"
            )));
        }
        Ok(Target { url })
    }

    /// The addresses of `host` a delivery may connect to, or why none.
    pub fn admit(&self, host: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>> {
        if self.allow.host(host) {
            return Ok(addrs);
        }
        let mut why = None;
        let kept: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|a| {
                if self.allow.address(a.ip()) {
                    return true;
                }
                match refused(a.ip()) {
                    Some(w) => {
                        why.get_or_insert((a.ip(), w));
                        false
                    }
                    None => true,
                }
            })
            .collect();
        match (kept.is_empty(), why) {
            (false, _) => Ok(kept),
            (true, Some((ip, w))) => Err(Error::invalid(format!(
                "webhook host {host} resolves to {ip}, {w} (the operator allows such targets \
                 with SIGNET_WEBHOOK_ALLOW)"
            ))),
            (true, None) => Err(Error::invalid(format!(
                "webhook host {host} resolves to no address"
            ))),
        }
    }

    /// A resolver for the delivering client that keeps only admitted
    /// addresses.
    pub fn resolver(&self) -> Arc<Resolver> {
        Arc::new(Resolver {
            policy: self.clone(),
        })
    }
}

/// Resolves a target's host with the system resolver and admits its
/// addresses ([`Policy::admit`]): the client connects to nothing else.
pub struct Resolver {
    policy: Policy,
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let admitted = policy.admit(&host, addrs)?;
            Ok(Box::new(admitted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_internal_range_is_refused_in_every_form() {
        for a in [
            "127.0.0.1",
            "127.255.255.254",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "100.100.100.200",
            "192.0.0.192",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "100::1",
        ] {
            assert!(refused(ip(a)).is_some(), "{a} should be refused");
        }
        assert_eq!(
            refused(ip("169.254.169.254")),
            Some("a cloud metadata address")
        );
        assert_eq!(
            refused(ip("::ffff:169.254.169.254")),
            Some("a cloud metadata address")
        );
    }

    #[test]
    fn public_addresses_pass() {
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(refused(ip(a)), None, "{a} should pass");
        }
    }

    #[test]
    fn urls_are_checked_for_form_and_literal_addresses() {
        let p = Policy::default();
        assert!(p.target("https://hooks.example.com/signet").is_ok());
        for (url, says) in [
            ("http://hooks.example.com/x", "http is allowed only"),
            ("ftp://hooks.example.com/x", "scheme ftp"),
            ("https://user:pw@hooks.example.com/", "credentials"),
            ("https://hooks.example.com/#frag", "fragment"),
            ("https://127.0.0.1/", "loopback"),
            ("https://0x7f.1/", "loopback"),
            ("https://2130706433/", "loopback"),
            ("https://017700000001/", "loopback"),
            ("https://[::ffff:7f00:1]/", "loopback"),
            ("https://169.254.169.254/latest/meta-data", "metadata"),
            ("https://[fd00:ec2::254]/", "unique local"),
            ("https://[::]/", "unspecified"),
            ("https://0/", "this network"),
            ("not a url", "not an absolute URL"),
        ] {
            let e = p.target(url).unwrap_err().to_string();
            assert!(e.contains(says), "{url}: {e}");
        }
        let long = format!("https://h.example/{}", "a".repeat(MAX_URL));
        assert!(p.target(&long).unwrap_err().to_string().contains("longer"));
    }

    #[test]
    fn the_operator_allows_networks_and_hosts() {
        let p = Policy::new(Allow::parse("127.0.0.0/8, ::1 receiver.test").unwrap());
        assert!(p.target("http://127.0.0.1:9000/hook").is_ok());
        assert!(p.target("https://[::1]:9000/hook").is_ok());
        assert!(p.target("https://[::ffff:127.0.0.2]/hook").is_ok());
        assert!(p.target("http://RECEIVER.test/hook").is_ok());
        assert!(p.target("https://10.0.0.1/").is_err());
        let a = |s: &str| SocketAddr::new(ip(s), 443);
        assert_eq!(
            p.admit("other.test", vec![a("127.0.0.1")]).unwrap(),
            vec![a("127.0.0.1")]
        );
        assert!(p.admit("receiver.test", vec![a("10.0.0.1")]).is_ok());
        let e = p.admit("evil.test", vec![a("10.0.0.1")]).unwrap_err();
        assert!(
            e.to_string().contains("evil.test resolves to 10.0.0.1"),
            "{e}"
        );
        assert!(Allow::parse("not/a/net").is_err());
    }

    #[test]
    fn a_name_with_any_refused_address_keeps_only_the_public_ones() {
        let p = Policy::default();
        let a = |s: &str| SocketAddr::new(ip(s), 443);
        assert_eq!(
            p.admit("mixed.test", vec![a("10.0.0.1"), a("8.8.8.8")])
                .unwrap(),
            vec![a("8.8.8.8")]
        );
        assert!(
            p.admit("private.test", vec![a("::ffff:192.168.0.1")])
                .is_err()
        );
        assert!(p.admit("none.test", vec![]).is_err());
    }
}
