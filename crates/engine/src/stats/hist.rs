//! Log-linear latency histogram bins: 4 equal sub-bins per power of two from 2^10 ns
//! (1.024 µs) to 2^37 ns (137.4 s), one bin below and one above.
//!
//! A quantile is answered with the value of its bin that minimises the worst relative
//! error over the bin, `2·lo·hi / (lo + hi)`. A bin `[lo, hi)` is at most a quarter of `lo`
//! wide, so for latencies in `[2^10, 2^37)` ns the answer is within `(hi−lo)/(hi+lo) ≤ 1/9`
//! (11.2 %, +1 ns of rounding) of the true value. Below 1.024 µs the answer is 512 ns
//! (absolute error < 512 ns); from 137.4 s on, the answer is 2^37 ns (a lower bound).

/// Number of bins.
pub(crate) const BINS: usize = 1 + 27 * 4 + 1;
const LO_EXP: u32 = 10;
const HI_EXP: u32 = 37;

/// The bin of a latency in nanoseconds.
#[inline]
pub(crate) fn bin(v: u64) -> usize {
    if v < 1 << LO_EXP {
        return 0;
    }
    let o = 63 - v.leading_zeros();
    if o >= HI_EXP {
        return BINS - 1;
    }
    1 + ((o - LO_EXP) * 4) as usize + ((v >> (o - 2)) & 3) as usize
}

/// `[lo, hi)` of a bin (`hi` is `u64::MAX` for the last one).
pub(crate) fn bounds(i: usize) -> (u64, u64) {
    if i == 0 {
        return (0, 1 << LO_EXP);
    }
    if i >= BINS - 1 {
        return (1 << HI_EXP, u64::MAX);
    }
    let j = (i - 1) as u32;
    let o = LO_EXP + j / 4;
    let w = 1u64 << (o - 2);
    let lo = (1u64 << o) + u64::from(j % 4) * w;
    (lo, lo + w)
}

/// The value reported for a bin.
pub(crate) fn representative(i: usize) -> u64 {
    let (lo, hi) = bounds(i);
    if i == 0 {
        return lo + (hi - lo) / 2;
    }
    if i >= BINS - 1 {
        return lo;
    }
    // Both below 2^37, so the product fits in u128 trivially and the result in u64.
    let r = 2 * u128::from(lo) * u128::from(hi) / (u128::from(lo) + u128::from(hi));
    u64::try_from(r).unwrap_or(lo)
}

/// Nearest-rank quantile (`permille`/1000) of a histogram holding `n` samples: the bin of
/// the sample of rank `ceil(p·n)`, as its representative value.
pub(crate) fn quantile(h: &[u64; BINS], n: u64, permille: u64) -> Option<u64> {
    if n == 0 {
        return None;
    }
    let rank = (n.saturating_mul(permille).div_ceil(1000)).max(1);
    let mut seen = 0u64;
    for (i, &c) in h.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return Some(representative(i));
        }
    }
    Some(representative(BINS - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_contiguous_and_monotonic() {
        let mut prev_hi = 0;
        for i in 0..BINS {
            let (lo, hi) = bounds(i);
            assert_eq!(lo, prev_hi, "bin {i}");
            assert!(hi > lo);
            assert_eq!(bin(lo), i);
            if hi != u64::MAX {
                assert_eq!(bin(hi - 1), i);
            }
            prev_hi = hi;
        }
        assert_eq!(bin(u64::MAX), BINS - 1);
        assert_eq!(bin(0), 0);
    }

    #[test]
    fn representative_within_documented_error() {
        for i in 1..BINS - 1 {
            let (lo, hi) = bounds(i);
            let r = representative(i) as f64;
            for v in [lo, lo + (hi - lo) / 3, hi - 1] {
                let err = (r - v as f64).abs() / v as f64;
                // 1/9, plus one nanosecond of rounding.
                assert!(
                    err <= 1.0 / 9.0 + 1.0 / lo as f64,
                    "bin {i} v {v} r {r} err {err}"
                );
            }
        }
    }
}
