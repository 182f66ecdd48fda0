//! Which addresses are globally routable. Anything else (loopback, private, link-local,
//! metadata, CGNAT, multicast, documentation, IPv6 forms embedding an IPv4 address) is
//! refused, because reaching it from the sandbox is what SSRF is made of.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is not global, or `None` when it is.
pub fn non_global_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let in_net = |net: [u8; 4], bits: u32| {
        let mask = if bits == 0 {
            0
        } else {
            u32::MAX << (32 - bits)
        };
        (u32::from(ip) & mask) == (u32::from_be_bytes(net) & mask)
    };
    let table: &[([u8; 4], u32, &'static str)] = &[
        (
            [0, 0, 0, 0],
            8,
            "unspecified or \"this network\" (0.0.0.0/8)",
        ),
        ([10, 0, 0, 0], 8, "private (10.0.0.0/8)"),
        ([100, 64, 0, 0], 10, "carrier-grade NAT (100.64.0.0/10)"),
        ([127, 0, 0, 0], 8, "loopback (127.0.0.0/8)"),
        (
            [169, 254, 0, 0],
            16,
            "link-local or cloud metadata (169.254.0.0/16)",
        ),
        ([172, 16, 0, 0], 12, "private (172.16.0.0/12)"),
        (
            [192, 0, 0, 0],
            24,
            "IETF protocol assignments (192.0.0.0/24)",
        ),
        ([192, 0, 2, 0], 24, "documentation (192.0.2.0/24)"),
        ([192, 88, 99, 0], 24, "6to4 relay anycast (192.88.99.0/24)"),
        ([192, 168, 0, 0], 16, "private (192.168.0.0/16)"),
        ([198, 18, 0, 0], 15, "benchmarking (198.18.0.0/15)"),
        ([198, 51, 100, 0], 24, "documentation (198.51.100.0/24)"),
        ([203, 0, 113, 0], 24, "documentation (203.0.113.0/24)"),
        ([224, 0, 0, 0], 4, "multicast (224.0.0.0/4)"),
        ([240, 0, 0, 0], 4, "reserved or broadcast (240.0.0.0/4)"),
    ];
    table
        .iter()
        .find(|(net, bits, _)| in_net(*net, *bits))
        .map(|(_, _, why)| *why)
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some("unspecified (::)");
    }
    if ip.is_loopback() {
        return Some("loopback (::1)");
    }
    if s[0..5] == [0, 0, 0, 0, 0] && s[5] == 0xffff {
        return Some("IPv4-mapped (::ffff:0:0/96)");
    }
    if s[0..6] == [0, 0, 0, 0, 0, 0] {
        return Some("IPv4-compatible (::/96)");
    }
    if s[0..4] == [0, 0, 0, 0] && s[4] == 0xffff && s[5] == 0 {
        return Some("IPv4-translated (::ffff:0:0:0/96)");
    }
    if s[0] == 0x64 && s[1] == 0xff9b {
        return Some("NAT64 (64:ff9b::/96, 64:ff9b:1::/48)");
    }
    if s[0] == 0x2002 {
        return Some("6to4 (2002::/16)");
    }
    if s[0] == 0x2001 && s[1] == 0 {
        return Some("Teredo (2001::/32)");
    }
    if s[0] == 0x2001 && s[1] < 0x200 {
        return Some("IETF protocol assignments (2001::/23)");
    }
    if s[0] == 0x2001 && s[1] == 0xdb8 {
        return Some("documentation (2001:db8::/32)");
    }
    if s[0] & 0xfff0 == 0x3ff0 {
        return Some("documentation (3fff::/20)");
    }
    if s[0] == 0x100 && s[1..4] == [0, 0, 0] {
        return Some("discard (100::/64)");
    }
    if s[0] & 0xfe00 == 0xfc00 {
        return Some("unique local (fc00::/7)");
    }
    if s[0] & 0xffc0 == 0xfe80 {
        return Some("link-local (fe80::/10)");
    }
    if s[0] & 0xffc0 == 0xfec0 {
        return Some("site-local (fec0::/10)");
    }
    if s[0] & 0xff00 == 0xff00 {
        return Some("multicast (ff00::/8)");
    }
    if s[0] & 0xe000 != 0x2000 {
        return Some("not global unicast (outside 2000::/3)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globals_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(non_global_reason(ip), None, "{ip}");
        }
    }

    #[test]
    fn edges_of_ranges() {
        for (ip, global) in [
            ("172.15.255.255", true),
            ("172.16.0.0", false),
            ("172.31.255.255", false),
            ("172.32.0.0", true),
            ("100.63.255.255", true),
            ("100.64.0.0", false),
            ("100.127.255.255", false),
            ("100.128.0.0", true),
            ("223.255.255.255", true),
            ("224.0.0.0", false),
            ("255.255.255.255", false),
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(non_global_reason(ip).is_none(), global, "{ip}");
        }
    }
}
