//! CIDR blocks of `aws:SourceIp` / `aws:VpcSourceIp` values, and how broad a set of them is.
//!
//! Breadth follows the definition S3 Block Public Access uses for a "non-public" policy (S3 User
//! Guide, "The meaning of public"): values "broader than /8 for IPv4 and /32 for IPv6 (excluding
//! RFC1918 private ranges)" are public. Values of one condition are ORed, so the test is on their
//! union: addresses outside the RFC1918 ranges count, and more of them than one IPv4 /8 (2^24) or
//! one IPv6 /32 (2^96) is broad. Several narrow blocks adding up to a broad range are broad too.

use std::net::IpAddr;

/// One CIDR block (or a single address), as an inclusive range of one address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    v6: bool,
    first: u128,
    last: u128,
}

/// RFC1918 private IPv4 ranges: not reachable from the internet, so not counted as breadth.
const PRIVATE_V4: [(u128, u128); 3] = [
    (0x0A00_0000, 0x0AFF_FFFF), // 10.0.0.0/8
    (0xAC10_0000, 0xAC1F_FFFF), // 172.16.0.0/12
    (0xC0A8_0000, 0xC0A8_FFFF), // 192.168.0.0/16
];

impl Cidr {
    /// `10.0.0.0/8`, `2001:db8::/32` or one address; `None` when it is not a CIDR block (such a
    /// value matches no request).
    pub fn parse(text: &str) -> Option<Cidr> {
        let (net, bits) = match text.trim().split_once('/') {
            Some((n, b)) => (n, Some(b.parse::<u32>().ok()?)),
            None => (text.trim(), None),
        };
        let (v6, width, addr) = match net.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => (false, 32, u128::from(u32::from(a))),
            IpAddr::V6(a) => (true, 128, u128::from(a)),
        };
        let bits = bits.unwrap_or(width);
        if bits > width {
            return None;
        }
        let host_bits = width - bits;
        let host_mask = if host_bits == 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        Some(Cidr {
            v6,
            first: addr & !host_mask,
            last: addr | host_mask,
        })
    }

    /// Whether the address `ip` lies in the block.
    pub fn contains(&self, ip: &str) -> bool {
        match ip.trim().parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => {
                !self.v6 && (self.first..=self.last).contains(&u32::from(a).into())
            }
            Ok(IpAddr::V6(a)) => self.v6 && (self.first..=self.last).contains(&u128::from(a)),
            Err(_) => false,
        }
    }
}

/// Whether the union of `values` (CIDR blocks; unparseable ones match nothing) admits more public
/// addresses than one IPv4 /8 or one IPv6 /32.
pub fn union_is_broad<'a>(values: impl IntoIterator<Item = &'a str>) -> bool {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for c in values.into_iter().filter_map(Cidr::parse) {
        if c.v6 {
            v6.push((c.first, c.last));
        } else {
            v4.push((c.first, c.last));
        }
    }
    let public_v4: u128 = merge(v4)
        .into_iter()
        .map(|(first, last)| size(first, last) - private_overlap(first, last))
        .sum();
    let v6_total = merge(v6).into_iter().fold(0u128, |acc, (first, last)| {
        acc.saturating_add(size(first, last))
    });
    public_v4 > 1 << 24 || v6_total > 1 << 96
}

/// Inclusive range size, saturating at `u128::MAX` for `::/0`.
fn size(first: u128, last: u128) -> u128 {
    (last - first).saturating_add(1)
}

/// Sorted, disjoint ranges covering the same addresses.
fn merge(mut ranges: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    ranges.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
    for (first, last) in ranges {
        match out.last_mut() {
            Some(prev) if first <= prev.1.saturating_add(1) => prev.1 = prev.1.max(last),
            _ => out.push((first, last)),
        }
    }
    out
}

fn private_overlap(first: u128, last: u128) -> u128 {
    PRIVATE_V4
        .iter()
        .filter(|(pf, pl)| *pf <= last && first <= *pl)
        .map(|(pf, pl)| size(first.max(*pf), last.min(*pl)))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_parse_and_contain() {
        let c = Cidr::parse("10.1.2.3/8").unwrap();
        assert!(c.contains("10.255.0.1") && !c.contains("11.0.0.0") && !c.contains("::1"));
        assert!(Cidr::parse("2001:db8::/32")
            .unwrap()
            .contains("2001:db8:1::1"));
        assert!(!Cidr::parse("2001:db8::/32")
            .unwrap()
            .contains("2001:db9::1"));
        assert!(Cidr::parse("203.0.113.7").unwrap().contains("203.0.113.7"));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8"));
        assert!(Cidr::parse("::/0").unwrap().contains("2001::1"));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/x",
            "example.com",
            "",
            "10.0.0/8",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn breadth_threshold_is_an_ipv4_slash_8_and_an_ipv6_slash_32() {
        assert!(!union_is_broad(["54.0.0.0/8"]));
        assert!(union_is_broad(["54.0.0.0/7"]));
        assert!(!union_is_broad(["2001:db8::/32"]));
        assert!(union_is_broad(["2001:db8::/31"]));
        assert!(union_is_broad(["0.0.0.0/0"]) && union_is_broad(["::/0"]));
        assert!(union_is_broad(["0.0.0.0/1"]));
        assert!(!union_is_broad(["203.0.113.0/24", "198.51.100.7"]));
    }

    #[test]
    fn breadth_is_of_the_union_without_private_ranges() {
        // Two /9 halves of one /8: exactly a /8, not broad; a third /9 elsewhere tips it over.
        assert!(!union_is_broad(["54.0.0.0/9", "54.128.0.0/9"]));
        assert!(union_is_broad(["54.0.0.0/9", "54.128.0.0/9", "60.0.0.0/9"]));
        // Overlapping blocks count once.
        assert!(!union_is_broad(["54.0.0.0/8", "54.1.0.0/16", "54.0.0.0/9"]));
        // 10.0.0.0/7 is 10/8 (private, not counted) and 11/8: one public /8.
        assert!(!union_is_broad(["10.0.0.0/7"]));
        assert!(!union_is_broad([
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "54.0.0.0/8"
        ]));
        // Unparseable values match nothing.
        assert!(!union_is_broad(["not-an-ip", "54.0.0.0/8"]));
        // Many narrow blocks adding up to more than a /8.
        let blocks: Vec<String> = (0..257)
            .map(|i| format!("{}.{}.0.0/16", 20 + i / 256, i % 256))
            .collect();
        assert!(union_is_broad(blocks.iter().map(String::as_str)));
        assert!(!union_is_broad(blocks[..256].iter().map(String::as_str)));
    }
}
