//! Which encapsulations carried a packet: a small `Copy` value, outermost layer first.
//!
//! Contract: an [`Encap`] is four bytes (the layers packed four bits each), so it rides
//! on every decoded segment and on every flow without allocation; it holds at most
//! [`MAX_ENCAP_DEPTH`] layers, and [`Encap::push`] past that is
//! [`DecodeError::TooManyEncapsulations`], which bounds the work a crafted nest of tunnels
//! can cause per frame. The names ([`EncapKind::name`]) are stable: the JSON log writes
//! them joined by `/` (`"vxlan"`, `"gre/erspan2"`).

use crate::error::DecodeError;
use core::fmt;

/// The most encapsulation layers entered in one frame (the outer frame's own link layer
/// and VLAN tags not counted). Real deployments nest two or three.
pub const MAX_ENCAP_DEPTH: usize = 8;

/// One encapsulation layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EncapKind {
    /// VXLAN (UDP 4789), Ethernet inside.
    Vxlan = 1,
    /// Geneve (UDP 6081), Ethernet or IP inside.
    Geneve = 2,
    /// GRE version 0 (with or without checksum, key, sequence number).
    Gre = 3,
    /// ERSPAN type I (GRE 0x88BE without sequence number): Ethernet right after GRE.
    Erspan1 = 4,
    /// ERSPAN type II (GRE 0x88BE, 8-byte header).
    Erspan2 = 5,
    /// ERSPAN type III (GRE 0x22EB, 12-byte header, optional 8-byte platform subheader).
    Erspan3 = 6,
    /// GTP-U (UDP 2152) G-PDU, IP inside.
    GtpU = 7,
    /// Teredo (UDP 3544), IPv6 inside.
    Teredo = 8,
    /// IPv4 in IPv4 (protocol 4).
    Ip4in4 = 9,
    /// IPv6 in IPv4 (protocol 41, 6in4 / sit).
    Ip6in4 = 10,
    /// IPv4 in IPv6 (next header 4).
    Ip4in6 = 11,
    /// IPv6 in IPv6 (next header 41, ip6tnl).
    Ip6in6 = 12,
    /// An MPLS label stack (any depth is one layer).
    Mpls = 13,
    /// A PPPoE session (EtherType 0x8864).
    Pppoe = 14,
}

impl EncapKind {
    /// Every kind, in numbering order.
    pub const ALL: [EncapKind; 14] = [
        EncapKind::Vxlan,
        EncapKind::Geneve,
        EncapKind::Gre,
        EncapKind::Erspan1,
        EncapKind::Erspan2,
        EncapKind::Erspan3,
        EncapKind::GtpU,
        EncapKind::Teredo,
        EncapKind::Ip4in4,
        EncapKind::Ip6in4,
        EncapKind::Ip4in6,
        EncapKind::Ip6in6,
        EncapKind::Mpls,
        EncapKind::Pppoe,
    ];

    /// A short lowercase name, stable across releases (log field, counter names).
    pub const fn name(self) -> &'static str {
        match self {
            EncapKind::Vxlan => "vxlan",
            EncapKind::Geneve => "geneve",
            EncapKind::Gre => "gre",
            EncapKind::Erspan1 => "erspan1",
            EncapKind::Erspan2 => "erspan2",
            EncapKind::Erspan3 => "erspan3",
            EncapKind::GtpU => "gtpu",
            EncapKind::Teredo => "teredo",
            EncapKind::Ip4in4 => "4in4",
            EncapKind::Ip6in4 => "6in4",
            EncapKind::Ip4in6 => "4in6",
            EncapKind::Ip6in6 => "6in6",
            EncapKind::Mpls => "mpls",
            EncapKind::Pppoe => "pppoe",
        }
    }

    const fn from_nibble(n: u32) -> Option<EncapKind> {
        let i = n as usize;
        if i >= 1 && i <= Self::ALL.len() {
            Some(Self::ALL[i - 1])
        } else {
            None
        }
    }
}

/// The encapsulation layers of a packet, outermost first (empty: none).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Encap(u32);

impl Encap {
    pub const NONE: Encap = Encap(0);

    /// Whether no layer was entered.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of layers.
    pub const fn depth(self) -> usize {
        (32 - self.0.leading_zeros() as usize).div_ceil(4)
    }

    /// `self` with `kind` inside its innermost layer; past [`MAX_ENCAP_DEPTH`] an error.
    #[inline]
    pub fn push(self, kind: EncapKind) -> Result<Encap, DecodeError> {
        let d = self.depth();
        if d >= MAX_ENCAP_DEPTH {
            return Err(DecodeError::TooManyEncapsulations);
        }
        Ok(Encap(self.0 | (kind as u32) << (4 * d)))
    }

    /// The layers, outermost first.
    pub fn iter(self) -> impl Iterator<Item = EncapKind> {
        (0..self.depth()).filter_map(move |i| EncapKind::from_nibble((self.0 >> (4 * i)) & 0xf))
    }

    /// The layers inside `outer`, when `outer` is this value's outermost part (as a
    /// datagram reassembled inside tunnels extends their encapsulation).
    pub const fn inner_of(self, outer: Encap) -> Encap {
        let shift = 4 * outer.depth();
        if shift >= 32 {
            Encap::NONE
        } else {
            Encap(self.0 >> shift)
        }
    }

    /// The packed value (4 bits per layer, outermost in the low bits).
    pub const fn bits(self) -> u32 {
        self.0
    }
}

/// The layer names joined by `/`, outermost first (`gre/erspan2`); empty for none.
impl fmt::Display for Encap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, k) in self.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            f.write_str(k.name())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Encap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Encap({self})")
    }
}

crate::counters! {
    /// Frames by encapsulation layer entered (a frame in VXLAN in GRE counts once in each).
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct EncapCounters {
        [Packets]
        /// Frames carried in VXLAN (UDP 4789).
        encap_vxlan: Frames,
        /// Frames carried in Geneve (UDP 6081).
        encap_geneve: Frames,
        /// Frames carried in GRE.
        encap_gre: Frames,
        /// Frames carried in ERSPAN type I.
        encap_erspan1: Frames,
        /// Frames carried in ERSPAN type II.
        encap_erspan2: Frames,
        /// Frames carried in ERSPAN type III.
        encap_erspan3: Frames,
        /// Frames carried in GTP-U (UDP 2152).
        encap_gtpu: Frames,
        /// Frames carried in Teredo (UDP 3544).
        encap_teredo: Frames,
        /// Frames carried in IPv4 in IPv4.
        encap_4in4: Frames,
        /// Frames carried in IPv6 in IPv4 (6in4, sit).
        encap_6in4: Frames,
        /// Frames carried in IPv4 in IPv6.
        encap_4in6: Frames,
        /// Frames carried in IPv6 in IPv6.
        encap_6in6: Frames,
        /// Frames carried under an MPLS label stack.
        encap_mpls: Frames,
        /// Frames carried in a PPPoE session.
        encap_pppoe: Frames,
    }
}

impl EncapCounters {
    /// One more frame in each layer of `encap` (nothing to do for a plain frame).
    #[inline]
    pub fn count(&mut self, encap: Encap) {
        if encap.is_empty() {
            return;
        }
        for k in encap.iter() {
            let c = match k {
                EncapKind::Vxlan => &mut self.encap_vxlan,
                EncapKind::Geneve => &mut self.encap_geneve,
                EncapKind::Gre => &mut self.encap_gre,
                EncapKind::Erspan1 => &mut self.encap_erspan1,
                EncapKind::Erspan2 => &mut self.encap_erspan2,
                EncapKind::Erspan3 => &mut self.encap_erspan3,
                EncapKind::GtpU => &mut self.encap_gtpu,
                EncapKind::Teredo => &mut self.encap_teredo,
                EncapKind::Ip4in4 => &mut self.encap_4in4,
                EncapKind::Ip6in4 => &mut self.encap_6in4,
                EncapKind::Ip4in6 => &mut self.encap_4in6,
                EncapKind::Ip6in6 => &mut self.encap_6in6,
                EncapKind::Mpls => &mut self.encap_mpls,
                EncapKind::Pppoe => &mut self.encap_pppoe,
            };
            *c += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_to_the_cap_then_refuse() {
        let mut e = Encap::NONE;
        assert_eq!((e.depth(), e.to_string()), (0, String::new()));
        for (i, k) in EncapKind::ALL
            .iter()
            .cycle()
            .take(MAX_ENCAP_DEPTH)
            .enumerate()
        {
            e = e.push(*k).expect("below the cap");
            assert_eq!(e.depth(), i + 1);
        }
        assert_eq!(
            e.push(EncapKind::Vxlan),
            Err(DecodeError::TooManyEncapsulations)
        );
        assert_eq!(
            e.to_string(),
            "vxlan/geneve/gre/erspan1/erspan2/erspan3/gtpu/teredo"
        );
    }

    #[test]
    fn every_kind_round_trips_and_counts() {
        let mut c = EncapCounters::default();
        for (i, k) in EncapKind::ALL.into_iter().enumerate() {
            assert_eq!(k as u8 as usize, i + 1);
            let e = Encap::NONE
                .push(EncapKind::Pppoe)
                .and_then(|e| e.push(k))
                .expect("depth 2");
            assert_eq!(e.iter().collect::<Vec<_>>(), vec![EncapKind::Pppoe, k]);
            assert_eq!(e.to_string(), format!("pppoe/{}", k.name()));
            c.count(e);
            assert_eq!(
                EncapCounters::DESCRIPTORS[i].name,
                format!("encap_{}", k.name())
            );
        }
        let v = c.values();
        assert_eq!(v[13], 15, "pppoe: once per kind, twice for itself");
        assert!(v[..13].iter().all(|&x| x == 1));
        c.count(Encap::NONE);
        assert_eq!(c.values(), v);
    }
}
